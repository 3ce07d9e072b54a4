"""afx summary plugin: Figures 13-16 from any set of afx runs (Hydra callback + `afx summary`).

callback.py  SummaryCallback, registered in conf/hydra/afx.yaml (runs when a multirun ends)
cli.py       `afx summary` over runs chosen by experiment, sweep or MLflow filter string
pipeline.py  the one implementation both call: load -> analysis -> plots -> files -> MLflow
load.py      MLflow -> polars (runs, metrics, transcripts artifacts) and logging back
analysis.py  pure statistics (SEM, bootstrap over transcripts, correlation, OLS and Deming fits)
plots.py     matplotlib figures (Agg, no pyplot state)
"""

from afx_summary.callback import SummaryCallback

__all__ = ["SummaryCallback"]
