"""afx summary plugin: Figures 13-16 from any set of afx runs (Hydra callback + `afx summary`).

callback.py  SummaryCallback, registered in conf/hydra/afx.yaml (runs when a multirun ends)
cli.py       `afx summary` over runs chosen by experiment, sweep or MLflow filter string
pipeline.py  the one implementation both call: load -> analysis -> plots -> files -> MLflow
load.py      MLflow -> polars (runs, metrics, transcripts artifacts) and logging back
analysis.py  pure statistics, re-exported (SEM, Wilson, bootstrap over transcripts, correlation, OLS and Deming)
plots.py     matplotlib figures 13-15 (Agg, no pyplot state); plot_fig16.py: Fig. 16
statistics.py, logged.py, tables.py, fits.py: the statistics behind analysis.py's names
corrected.py judge-error correction of Figs. 14/15 (--correct-with); stamps.py: the instrument stamp
options.py, report.py: Options/Summary; the files (Markdown, CSV, figure metadata)
"""

from afx_summary.callback import SummaryCallback

__all__ = ["SummaryCallback"]
