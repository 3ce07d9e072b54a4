"""Run identity joined with statistics (one run per condition) and the per-figure tables (13, 14 points,
15, 16): what the CSV/Markdown files and the figures are drawn from. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from .statistics import AF_LABELS, B_TRAIN, CONDITION, PREFIX_ORDER, TIERS

# ------------------------------------------------------------------------------ conditions & tables


def conditions(runs: pl.DataFrame, stats: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Join run identity with statistics; one run per condition (the latest). Returns (kept, dropped)."""
    joined = runs.join(stats, on="run_id", how="inner")
    if not joined.height:
        return joined, joined
    ranked = joined.sort("start_time", descending=True).with_columns(_rank=pl.int_range(pl.len()).over(list(CONDITION)))
    kept = ranked.filter(pl.col("_rank") == 0).drop("_rank")
    dropped = ranked.filter(pl.col("_rank") > 0).drop("_rank")
    return _sort(kept), dropped


SETTING_ORDER = ("helpful_only", "animal_welfare")


def setting_key(setting: str) -> tuple[int, str]:
    """Helpful-only first, then animal welfare, then any other setting by name (the paper's order)."""
    return (SETTING_ORDER.index(setting) if setting in SETTING_ORDER else len(SETTING_ORDER), setting)


def _prefix_key(prefix: str) -> tuple[int, str]:
    return (PREFIX_ORDER.index(prefix) if prefix in PREFIX_ORDER else len(PREFIX_ORDER), prefix)


def _sort(df: pl.DataFrame) -> pl.DataFrame:
    if not df.height:
        return df
    order = df.with_columns(
        _s=pl.col("setting").map_elements(lambda v: setting_key(v)[0], return_dtype=pl.Int64),
        _p=pl.col("prefix").map_elements(lambda p: _prefix_key(p)[0], return_dtype=pl.Int64),
        _v=pl.col("variation") != "default",
    )
    return order.sort("_s", "setting", "model", "classifier", "prefix_mode", "_v", "variation", "_p", "prefix").drop(
        "_s", "_p", "_v"
    )


def _note(row: Mapping[str, Any], names: Iterable[str], unjudged: Iterable[tuple[str, str]] = ()) -> str | None:
    """Why numbers are n/a, plus how many transcripts a failed judge left out (never silently)."""
    reasons = []
    for name in names:
        why = row.get(f"na_{name}")
        if why and why not in reasons:
            reasons.append(f"{name}: {why}")
    for column, what in unjudged:
        if row.get(column):
            reasons.append(f"{row[column]} {what} left out (not judged)")
    return "; ".join(reasons) or None


UNJUDGED_COMPLIANCE = (("train_unjudged", "training transcripts"), ("unmonitored_unjudged", "unmonitored transcripts"))
UNJUDGED_AF = (("train_unjudged_af", "compliant training transcripts without both AF labels"),)
UNJUDGED_UM = (("unmonitored_unjudged_um", "non-compliant unmonitored transcripts without the reasoning label"),)


# metric labels each figure's numbers depend on (Fig. 15 adds its conditioning label)
FIGURE_LABELS = {
    "fig13": ("compliance",),
    "fig14": ("compliance", "af_partial", "af_full"),
    "fig15": ("compliance",),
    "fig16": ("compliance", "af_partial", "af_full", "unmonitored_reasoning"),
}
INSTRUMENT_COLUMNS = {"backend": pl.String, "unvalidated": pl.String, "corrected": pl.String}


def unvalidated(row: Mapping[str, Any], labels: Iterable[str]) -> list[str]:
    """The labels among `labels` whose classifier has no validation (tag `validated.<label>` absent or false)."""
    return [label for label in labels if not row.get(f"validated_{label}")]


def instrument(row: Mapping[str, Any], labels: Iterable[str]) -> dict[str, Any]:
    """The instrument columns of a table row: model backend, unvalidated labels ('' = all validated)."""
    return {
        "backend": row.get("backend") or "n/a",
        "unvalidated": ", ".join(unvalidated(row, labels)),
        "corrected": None,
    }


def _interval(r: Mapping[str, Any], name: str, out: str) -> dict[str, Any]:
    return {f"{out}_lo": r.get(f"{name}_lo"), f"{out}_hi": r.get(f"{name}_hi")}


def fig13_table(cond: pl.DataFrame) -> pl.DataFrame:
    """Non-compliance by tier for each (setting, prefix) condition, ±1 SEM, with the gap."""
    rows = []
    for r in cond.iter_rows(named=True):
        rows.append(
            {
                **{k: r[k] for k in CONDITION},
                **instrument(r, FIGURE_LABELS["fig13"]),
                "train_pct": r["train_pct"],
                "train_se": r["train_se"],
                **_interval(r, "train", "train"),
                "train_n": r["train_n"],
                "unmonitored_pct": r["unmonitored_pct"],
                "unmonitored_se": r["unmonitored_se"],
                **_interval(r, "unmonitored", "unmonitored"),
                "unmonitored_n": r["unmonitored_n"],
                "gap_pp": r["gap_pp"],
                "gap_se": r["gap_se"],
                "gap_ci_lo": r["gap_ci_lo"],
                "gap_ci_hi": r["gap_ci_hi"],
                "source": r["source"],
                "note": _note(r, ("train", "unmonitored", "gap"), UNJUDGED_COMPLIANCE),
            }
        )
    return pl.DataFrame(rows, schema=_table_schema(FIG13_COLUMNS))


TIER_GAP_COLUMNS = {
    "train_pct": pl.Float64,
    "train_se": pl.Float64,
    "train_lo": pl.Float64,  # Wilson 95% (percent); corrected cells: bootstrap 95%
    "train_hi": pl.Float64,
    "train_n": pl.Int64,
    "unmonitored_pct": pl.Float64,
    "unmonitored_se": pl.Float64,
    "unmonitored_lo": pl.Float64,
    "unmonitored_hi": pl.Float64,
    "unmonitored_n": pl.Int64,
    "gap_pp": pl.Float64,
    "gap_se": pl.Float64,
    "gap_ci_lo": pl.Float64,
    "gap_ci_hi": pl.Float64,
}
FIG13_COLUMNS = {**TIER_GAP_COLUMNS, "source": pl.String, "note": pl.String}


def _table_schema(columns: Mapping[str, Any]) -> dict[str, Any]:
    return {**dict.fromkeys(CONDITION, pl.String), **INSTRUMENT_COLUMNS, **columns}


FIG14_COLUMNS = {
    "label": pl.String,
    "af_pct": pl.Float64,
    "af_se": pl.Float64,
    "af_lo": pl.Float64,  # Wilson 95% of the AF rate (corrected: bootstrap 95% of the corrected rate)
    "af_hi": pl.Float64,
    "af_obs_pct": pl.Float64,  # the uncorrected AF rate (= af_pct unless corrected)
    "gap_pp": pl.Float64,
    "gap_se": pl.Float64,
    "gap_ci_lo": pl.Float64,
    "gap_ci_hi": pl.Float64,
    "train_n": pl.Int64,
    "unmonitored_n": pl.Int64,
    "included": pl.Boolean,
    "source": pl.String,
    "note": pl.String,
    "paper_row": pl.Int64,
    "paper_af": pl.Float64,
    "paper_af_se": pl.Float64,
    "paper_gap": pl.Float64,
    "paper_gap_se": pl.Float64,
    **dict.fromkeys((*B_TRAIN, "b_unmon_k", "b_unmon_n"), pl.Int64),
    **{f"train_{c}_{label}": pl.Int64 for c in ("k", "known") for label in AF_LABELS},
}


def fig14_points(cond: pl.DataFrame, prefix: str = "none") -> pl.DataFrame:
    """One point per variation (and model, when several) of each setting, without a steering prefix."""
    rows = []
    sub = cond.filter(pl.col("prefix") == prefix) if cond.height else cond
    models = {s: set() for s in sub["setting"].unique().to_list()} if sub.height else {}
    for r in sub.iter_rows(named=True):
        models[r["setting"]].add(r["model"])
    for r in sub.iter_rows(named=True):
        note = _note(r, ("af_mean", "gap"), (*UNJUDGED_COMPLIANCE, *UNJUDGED_AF))
        label = r["variation"] if len(models[r["setting"]]) == 1 else f"{r['model']}: {r['variation']}"
        rows.append(
            {
                **{k: r[k] for k in CONDITION},
                "label": label,
                **instrument(r, FIGURE_LABELS["fig14"]),
                "af_pct": r["af_mean_pct"],
                "af_se": r["af_mean_se"],
                **_interval(r, "af_mean", "af"),
                "af_obs_pct": r["af_mean_pct"],
                "gap_pp": r["gap_pp"],
                "gap_se": r["gap_se"],
                "gap_ci_lo": r.get("gap_ci_lo"),
                "gap_ci_hi": r.get("gap_ci_hi"),
                "train_n": r["train_n"],
                "unmonitored_n": r["unmonitored_n"],
                "included": r["af_mean_pct"] is not None and r["gap_pp"] is not None,
                "source": r["source"],
                "note": note,
                **{k: r.get(k) for k in FIG14_COLUMNS if k.startswith(("paper_", "b_", "train_k", "train_known"))},
            }
        )
    return pl.DataFrame(rows, schema=_table_schema(FIG14_COLUMNS))


def fig15_table(cond: pl.DataFrame, conditioning: str = "af_partial") -> pl.DataFrame:
    """Non-compliance per tier x (AF present / absent) with n per cell, and the gap within each row."""
    rows = []
    for r in cond.iter_rows(named=True):
        for flag, shown in (("af", "present"), ("no_af", "absent")):
            rows.append(
                {
                    **{k: r[k] for k in CONDITION},
                    **instrument(r, (*FIGURE_LABELS["fig15"], conditioning)),
                    "conditioning": conditioning,
                    "af_reasoning": shown,
                    "train_pct": r[f"cond_train_{flag}_pct"],
                    "train_se": r[f"cond_train_{flag}_se"],
                    **_interval(r, f"cond_train_{flag}", "train"),
                    "train_n": r[f"cond_train_{flag}_n"],
                    "unmonitored_pct": r[f"cond_unmonitored_{flag}_pct"],
                    "unmonitored_se": r[f"cond_unmonitored_{flag}_se"],
                    **_interval(r, f"cond_unmonitored_{flag}", "unmonitored"),
                    "unmonitored_n": r[f"cond_unmonitored_{flag}_n"],
                    "gap_pp": r[f"cond_{flag}_gap_pp"],
                    "gap_se": r[f"cond_{flag}_gap_se"],
                    "gap_ci_lo": r[f"cond_{flag}_gap_ci_lo"],
                    "gap_ci_hi": r[f"cond_{flag}_gap_ci_hi"],
                    "unlabelled_n": _sum_or_none(r.get("train_unlabelled"), r.get("unmonitored_unlabelled")),
                    "source": r["source"],
                    "note": _note(
                        {
                            "na_training": r[f"na_cond_train_{flag}"],
                            "na_unmonitored": r[f"na_cond_unmonitored_{flag}"],
                            "na_gap": r[f"na_cond_{flag}_gap"],
                            "train_unlabelled": r.get("train_unlabelled") if flag == "no_af" else None,
                            "unmonitored_unlabelled": r.get("unmonitored_unlabelled") if flag == "no_af" else None,
                        },
                        ("training", "unmonitored", "gap"),
                        (
                            ("train_unlabelled", f"training transcripts without a {conditioning} judgement"),
                            ("unmonitored_unlabelled", f"unmonitored transcripts without a {conditioning} judgement"),
                        ),
                    ),
                }
            )
    schema = _table_schema(
        {
            "conditioning": pl.String,
            "af_reasoning": pl.String,
            **TIER_GAP_COLUMNS,
            "unlabelled_n": pl.Int64,
            "source": pl.String,
            "note": pl.String,
        }
    )
    return pl.DataFrame(rows, schema=schema)


def _sum_or_none(*values: int | None) -> int | None:
    return None if any(v is None for v in values) else sum(values)  # type: ignore[arg-type]


def fig16_table(cond: pl.DataFrame) -> pl.DataFrame:
    """Per tier: compliant / non-compliant shares, with the AF share (training) or the unmonitored-reasoning
    share (unmonitored) that the figure hatches."""
    rows = []
    for r in cond.iter_rows(named=True):
        for tier in TIERS:
            nc = r[f"{tier}_pct"]
            hatch = "af_mean" if tier == "train" else "um"
            rows.append(
                {
                    **{k: r[k] for k in CONDITION},
                    **instrument(r, FIGURE_LABELS["fig16"]),
                    "tier": tier,
                    "n": r[f"{tier}_n"],
                    "noncompliant_pct": nc,
                    "noncompliant_se": r[f"{tier}_se"],
                    **_interval(r, tier, "noncompliant"),
                    "compliant_pct": None if nc is None else 100 - nc,
                    "hatched": "AF reasoning, compliant" if tier == "train" else "unmonitored reasoning, non-compliant",
                    "hatched_pct": r[f"{hatch}_pct"],
                    "hatched_se": r[f"{hatch}_se"],
                    **_interval(r, hatch, "hatched"),
                    "source": r["source"],
                    "note": _note(r, (tier, hatch), UNJUDGED_AF if tier == "train" else UNJUDGED_UM),
                }
            )
    schema = _table_schema(
        {
            "tier": pl.String,
            "n": pl.Int64,
            "noncompliant_pct": pl.Float64,
            "noncompliant_se": pl.Float64,
            "noncompliant_lo": pl.Float64,
            "noncompliant_hi": pl.Float64,
            "compliant_pct": pl.Float64,
            "hatched": pl.String,
            "hatched_pct": pl.Float64,
            "hatched_se": pl.Float64,
            "hatched_lo": pl.Float64,
            "hatched_hi": pl.Float64,
            "source": pl.String,
            "note": pl.String,
        }
    )
    return pl.DataFrame(rows, schema=schema)
