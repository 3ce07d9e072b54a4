"""Pure statistics for Figures 13-16: polars frames in, polars frames out. No I/O, no MLflow, no plotting.

Definitions follow design.md and src/afx/metrics.py exactly, so a figure recomputed from transcripts
matches the job's logged metrics:
  * a transcript is *valid* when its status is "ok" and its compliance label exists;
  * non-compliance per tier: share of valid transcripts, ±1 binomial SEM; gap = unmonitored - train (pp);
  * AF rate (training only): flagged AND compliant; headline = mean of the partial and full classifiers,
    as a mean of per-transcript scores in {0, 0.5, 1} with its sample SEM; a compliant transcript whose
    AF label was not judged leaves that denominator (a non-compliant one is known not to count) and is
    counted in the note;
  * conditioning (Fig. 15): valid transcripts of each tier split by one AF label (non-compliant AF
    transcripts included); transcripts whose label is missing are in neither cell and are counted;
  * unmonitored reasoning (Fig. 16): share of valid unmonitored transcripts that are non-compliant and flagged.
A number that cannot be computed is null, and its `na_*` column says why (never a silent zero).

Bootstrap over transcripts: every gap in Figs. 13 and 15 gets a percentile 95% CI from resampling the
run's transcripts with replacement within each tier. Resampling n transcripts with replacement is done
exactly, as one multinomial draw over the per-transcript outcome categories (e.g. train: AF & non-compliant,
AF & compliant, no AF & non-compliant, no AF & compliant, label missing), which has the same distribution
as drawing row indices and is far cheaper.

Fig. 14 statistics (`fit_stats`): Pearson and Spearman r, OLS and Deming slopes (Deming's error-variance
ratio from the points' SEMs), each with a percentile bootstrap 95% CI. Default `bootstrap="variations"`:
resample the points (variations) with replacement; each point's value already carries its own sampling
noise, so this covers both the choice of variations and the transcript noise. `"hierarchical"` also
resamples the transcripts inside each point (aggregate-only points: normal redraws with their SEMs); it
counts the within-point noise twice, so it is conservative and pulls r and the OLS slope down, which is
why it is not the default. `"transcripts"` keeps the variations fixed and resamples only transcripts:
how much the fit moves from sampling noise alone, given these variations; the Deming slope's CI of this
kind is always reported too (`deming_slope_lo_t`, `_hi_t`). Coverage of each: bench/summary_coverage.py.

Wilson 95% intervals (`<rate>_lo`, `<rate>_hi`, percent) accompany every rate recomputed from counts; the
AF mean's is Wilson on the score sum (conservative: scores in {0, 0.5, 1} vary less than 0/1 outcomes).

Modules: statistics.py (counts, rates, Wilson intervals, per-run statistics from transcripts), logged.py
(from logged metrics; run_stats), tables.py (conditions and per-figure tables), fits.py (Fig. 14 fits),
this module re-exports them (the plugin's and the tests' one import).
"""

from __future__ import annotations

from .fits import (
    BOOTSTRAPS,
    FIG14_STATS_SCHEMA,
    FIT_KEYS,
    deming_delta,
    fig14_stats,
    fit_stats,
    normal_draws,
    paper_points,
    transcript_draws,
)
from .logged import (
    METRIC_MAP,
    consistency,
    run_stats,
    stats_from_metrics,
)
from .statistics import (
    AF_LABELS,
    B_TRAIN,
    CONDITION,
    COUNT_KEYS,
    GAP_NAMES,
    INT_COLUMNS,
    LABELS,
    METRIC_LABELS,
    PREFIX_ORDER,
    STAT_NAMES,
    TIERS,
    TRANSCRIPT_SCHEMA,
    count_cells,
    diff,
    rate,
    stats_from_counts,
    stats_schema,
    wilson,
)
from .tables import (
    FIG13_COLUMNS,
    FIG14_COLUMNS,
    FIGURE_LABELS,
    INSTRUMENT_COLUMNS,
    SETTING_ORDER,
    TIER_GAP_COLUMNS,
    conditions,
    fig13_table,
    fig14_points,
    fig15_table,
    fig16_table,
    instrument,
    setting_key,
    unvalidated,
)

__all__ = [
    "AF_LABELS",
    "BOOTSTRAPS",
    "B_TRAIN",
    "CONDITION",
    "COUNT_KEYS",
    "FIG13_COLUMNS",
    "FIG14_COLUMNS",
    "FIG14_STATS_SCHEMA",
    "FIGURE_LABELS",
    "FIT_KEYS",
    "GAP_NAMES",
    "INSTRUMENT_COLUMNS",
    "INT_COLUMNS",
    "LABELS",
    "METRIC_LABELS",
    "METRIC_MAP",
    "PREFIX_ORDER",
    "SETTING_ORDER",
    "STAT_NAMES",
    "TIERS",
    "TIER_GAP_COLUMNS",
    "TRANSCRIPT_SCHEMA",
    "conditions",
    "consistency",
    "count_cells",
    "deming_delta",
    "diff",
    "fig13_table",
    "fig14_points",
    "fig14_stats",
    "fig15_table",
    "fig16_table",
    "fit_stats",
    "instrument",
    "normal_draws",
    "paper_points",
    "rate",
    "run_stats",
    "setting_key",
    "stats_from_counts",
    "stats_from_metrics",
    "stats_schema",
    "transcript_draws",
    "unvalidated",
    "wilson",
]
