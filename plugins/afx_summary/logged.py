"""Per-run statistics from logged aggregates (runs without transcripts), the transcripts-or-metrics
dispatcher, and the check of recomputed against logged numbers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from .statistics import TIERS, _frame, _Row, count_cells, diff, stats_from_counts

# logged metric name -> per-run statistics column (src/afx/metrics.py names)
METRIC_MAP = {
    "train/noncompliance": "train",
    "unmonitored/noncompliance": "unmonitored",
    "af/partial": "af_partial",
    "af/full": "af_full",
    "af/mean": "af_mean",
    "cond/train/af/noncompliance": "cond_train_af",
    "cond/train/no_af/noncompliance": "cond_train_no_af",
    "cond/unmonitored/af/noncompliance": "cond_unmonitored_af",
    "cond/unmonitored/no_af/noncompliance": "cond_unmonitored_no_af",
    "unmonitored_reasoning": "um",
    "unmonitored_reasoning_among_noncompliant": "um_among_nc",
}


def stats_from_metrics(runs: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """The same per-run frame from logged aggregates (`metrics` and `na` dicts), for runs without transcripts."""
    rows = []
    for run in runs:
        m: Mapping[str, float] = run.get("metrics") or {}
        na: Mapping[str, str] = run.get("na") or {}
        r = _Row(run["run_id"], "metrics")
        for metric, name in METRIC_MAP.items():
            pct, se = m.get(f"{metric}_pct"), m.get(f"{metric}_se")
            why = na.get(f"{metric}_pct") or f"metric {metric}_pct was not logged"
            r.put(name, None if pct is None else (pct, se or 0.0), why)
            lo, hi = m.get(f"{metric}_lo"), m.get(f"{metric}_hi")  # the job's Wilson 95% (percent), if logged
            r.put_interval(name, None if pct is None or lo is None or hi is None else (lo, hi))
        for metric, name in (("gap", "gap"), ("cond/no_af_gap", "cond_no_af_gap")):
            pp, se = m.get(f"{metric}_pp"), m.get(f"{metric}_se")
            r.put(name, None if pp is None else (pp, se or 0.0), na.get(f"{metric}_pp") or f"{metric} not logged", "pp")
        af_gap = diff(_pair(r.d, "cond_unmonitored_af"), _pair(r.d, "cond_train_af"))
        r.put("cond_af_gap", af_gap, "a tier has no transcripts in this cell", "pp")
        for tier in TIERS:
            r.d[f"{tier}_n_total"] = _int(m.get(f"{tier}/n_total"))
            r.d[f"{tier}_n"] = _int(m.get(f"{tier}/n_valid"))
            for flag in ("af", "no_af"):
                r.d[f"cond_{tier}_{flag}_n"] = _int(m.get(f"cond/{tier}/{flag}/n"))
            r.d[f"{tier}_unlabelled"] = None
        rows.append(r.d)
    return _frame(rows)


def _pair(d: Mapping[str, Any], name: str) -> tuple[float, float] | None:
    pct = d.get(f"{name}_pct")
    return None if pct is None else (pct, d.get(f"{name}_se") or 0.0)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def run_stats(
    transcripts: pl.DataFrame | None,
    metric_runs: Sequence[Mapping[str, Any]],
    conditioning: str = "af_partial",
    *,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> pl.DataFrame:
    """Per-run statistics from transcripts where available, from logged metrics for the other runs."""
    parts = []
    have: set[str] = set()
    if transcripts is not None and transcripts.height:
        parts.append(stats_from_counts(count_cells(transcripts, conditioning), n_boot, seed, ci))
        have = set(parts[0]["run_id"].to_list())
    rest = [r for r in metric_runs if r["run_id"] not in have]
    if rest:
        parts.append(stats_from_metrics(rest))
    return pl.concat(parts, how="vertical") if parts else _frame([])


def consistency(stats: pl.DataFrame, metric_runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Largest |recomputed - logged| over the headline numbers of runs that have both (pp)."""
    logged = {r["run_id"]: r.get("metrics") or {} for r in metric_runs}
    worst, compared = 0.0, 0
    for row in stats.filter(pl.col("source") == "transcripts").iter_rows(named=True):
        m = logged.get(row["run_id"]) or {}
        for metric, col in (
            ("train/noncompliance_pct", "train_pct"),
            ("unmonitored/noncompliance_pct", "unmonitored_pct"),
            ("gap_pp", "gap_pp"),
            ("af/mean_pct", "af_mean_pct"),
        ):
            if m.get(metric) is not None and row[col] is not None:
                worst = max(worst, abs(m[metric] - row[col]))
                compared += 1
    return {"max_abs_diff_pp": worst, "values_compared": compared}
