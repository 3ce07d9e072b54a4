"""Fig. 14 fit statistics: Pearson / Spearman r, OLS and Deming slopes with percentile bootstrap CIs over
variations, transcripts or both (see analysis.py's docstring). Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from .statistics import B_TRAIN, _quantiles
from .tables import setting_key

# ----------------------------------------------------------------------------------- Fig. 14 fits


def _moments(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise (last axis) means and centred second moments."""
    mx, my = x.mean(axis=-1, keepdims=True), y.mean(axis=-1, keepdims=True)
    xc, yc = x - mx, y - my
    n = x.shape[-1]
    return mx[..., 0], my[..., 0], (xc * xc).sum(-1) / (n - 1), (yc * yc).sum(-1) / (n - 1), (xc * yc).sum(-1) / (n - 1)


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank), for 1-D or 2-D arrays.

    One searchsorted over all rows at once: each row is shifted by its own offset, so rows never mix.
    """
    a2 = np.atleast_2d(np.asarray(a, float))
    rows, n = a2.shape
    finite = a2[np.isfinite(a2)]
    span = float(finite.max() - finite.min()) + 1.0 if finite.size else 1.0
    shifted = a2 - (finite.min() if finite.size else 0.0) + np.arange(rows)[:, None] * 2 * span
    flat = np.sort(shifted, axis=None)
    base = (np.arange(rows) * n)[:, None]
    left = np.searchsorted(flat, shifted, "left") - base
    right = np.searchsorted(flat, shifted, "right") - base
    return ((left + right + 1) / 2).reshape(np.shape(a))


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1), np.nan)


def _fit_arrays(x: np.ndarray, y: np.ndarray, delta: float, spearman: bool = True) -> dict[str, np.ndarray]:
    """All four statistics for each row of x, y (shape (..., n)); `spearman=False` skips the ranking."""
    mx, my, sxx, syy, sxy = _moments(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = _safe_div(sxy, np.sqrt(sxx * syy))
        rho = np.full_like(pearson, np.nan)
        if spearman:
            _, _, rxx, ryy, rxy = _moments(_ranks(x), _ranks(y))
            rho = _safe_div(rxy, np.sqrt(rxx * ryy))
        ols = _safe_div(sxy, sxx)
        if math.isinf(delta):  # no error in x: Deming reduces to OLS of y on x
            deming = ols
        elif delta == 0:  # no error in y: OLS of x on y, inverted
            deming = _safe_div(syy, sxy)
        else:
            d = syy - delta * sxx
            deming = _safe_div(d + np.sqrt(d * d + 4 * delta * sxy * sxy), 2 * sxy)
    return {
        "pearson": pearson,
        "spearman": rho,
        "ols_slope": ols,
        "ols_intercept": my - ols * mx,
        "deming_slope": deming,
        "deming_intercept": my - deming * mx,
    }


def deming_delta(x_se: np.ndarray, y_se: np.ndarray) -> float:
    """Ratio of the y to the x measurement-error variance, from the points' SEMs."""
    vx, vy = float(np.mean(np.square(x_se))), float(np.mean(np.square(y_se)))
    if vx == 0:
        return math.inf
    return vy / vx


def normal_draws(value: np.ndarray, se: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) redraws of aggregate-only points from N(value, se)."""
    return value[None, :] + rng.standard_normal((n_boot, value.size)) * se[None, :]


def transcript_draws(points: pl.DataFrame, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(n_boot, n) bootstrap replicates of (AF %, gap pp) per point, resampling each point's transcripts.

    Points from transcripts: multinomial over the training categories (non-compliant; compliant with AF
    score 0 / 0.5 / 1; compliant without both AF labels) and binomial over unmonitored non-compliance,
    which is exactly resampling the transcripts with replacement. Points from aggregates, and the x of
    points corrected for judge error: normal draws N(value, se).
    """
    n = points.height
    xs, ys = np.empty((n_boot, n)), np.empty((n_boot, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, r in enumerate(points.iter_rows(named=True)):
            counts = np.array([r.get(k) or 0 for k in B_TRAIN], float)
            n_t, n_u = int(counts.sum()), r.get("b_unmon_n") or 0
            if r.get("source") == "transcripts" and n_t and n_u:
                cat = rng.multinomial(n_t, counts / n_t, size=n_boot)
                xs[:, j] = 100 * (0.5 * cat[:, 2] + cat[:, 3]) / (n_t - cat[:, 4])
                if r.get("corrected"):  # corrected for judge error: the corrected value and its spread
                    xs[:, j] = r["af_pct"] + rng.standard_normal(n_boot) * (r["af_se"] or 0.0)
                unmon = rng.binomial(n_u, r["b_unmon_k"] / n_u, size=n_boot)
                ys[:, j] = 100 * (unmon / n_u - cat[:, 0] / n_t)
            else:
                xs[:, j] = r["af_pct"] + rng.standard_normal(n_boot) * (r["af_se"] or 0.0)
                ys[:, j] = r["gap_pp"] + rng.standard_normal(n_boot) * (r["gap_se"] or 0.0)
    return xs, ys


FIT_KEYS = ("pearson", "spearman", "ols_slope", "ols_intercept", "deming_slope", "deming_intercept")
BOOTSTRAPS = ("variations", "hierarchical", "transcripts")


def fit_stats(
    x: Sequence[float],
    y: Sequence[float],
    x_se: Sequence[float] | None = None,
    y_se: Sequence[float] | None = None,
    *,
    bootstrap: str = "variations",
    draws: tuple[np.ndarray, np.ndarray] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    min_points: int = 3,
    spearman: bool = True,
) -> dict[str, Any]:
    """Pearson / Spearman r, OLS and Deming slope and intercept, each with a percentile bootstrap CI.

    bootstrap: "variations" resamples the points with replacement (values fixed); "transcripts" keeps
    the points and replaces each value by a per-point replicate; "hierarchical" does both. Per-point
    replicates are `draws` ((n_boot, n) arrays of x and y, e.g. from `transcript_draws`) or, without
    them, normal redraws N(value, se).
    """
    if bootstrap not in BOOTSTRAPS:
        raise ValueError(f"bootstrap must be one of {BOOTSTRAPS}, got {bootstrap!r}")
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    n = int(xa.size)
    xse = np.zeros(n) if x_se is None else np.nan_to_num(np.asarray(x_se, float))
    yse = np.zeros(n) if y_se is None else np.nan_to_num(np.asarray(y_se, float))
    out: dict[str, Any] = {"n": n, "bootstrap": bootstrap, "n_boot": n_boot, "n_boot_valid": None, "ci": ci}
    for key in FIT_KEYS:
        out.update({key: None, f"{key}_lo": None, f"{key}_hi": None})
    out.update(deming_delta=None, x_reliability=None, note=None)
    if n < min_points:
        out["note"] = f"needs at least {min_points} points with both AF rate and gap (has {n})"
        return out
    if np.ptp(xa) == 0 or np.ptp(ya) == 0:
        out["note"] = f"all {n} points have the same {'AF rate' if np.ptp(xa) == 0 else 'gap'}: no fit"
        return out
    delta = deming_delta(xse, yse)
    out["deming_delta"] = None if math.isinf(delta) else delta
    # share of the spread of x that is not measurement noise (OLS is attenuated by this factor)
    out["x_reliability"] = float(1 - np.mean(xse**2) / np.var(xa, ddof=1))
    point = _fit_arrays(xa, ya, delta)
    for key in FIT_KEYS:
        out[key] = float(point[key])
    rng = np.random.default_rng(seed)
    if bootstrap == "variations":
        dx, dy = np.broadcast_to(xa, (n_boot, n)), np.broadcast_to(ya, (n_boot, n))
    elif draws is not None:
        dx, dy = draws
    else:
        dx, dy = normal_draws(xa, xse, n_boot, rng), normal_draws(ya, yse, n_boot, rng)
    if bootstrap == "transcripts":
        bx, by = np.asarray(dx), np.asarray(dy)
    else:
        idx = rng.integers(0, n, size=(n_boot, n))
        bx, by = np.take_along_axis(dx, idx, 1), np.take_along_axis(dy, idx, 1)
    boot = _fit_arrays(bx, by, delta, spearman)
    valid = np.isfinite(boot["pearson"]) & np.isfinite(boot["deming_slope"])
    out["n_boot_valid"] = int(valid.sum())
    for key in FIT_KEYS:
        out[f"{key}_lo"], out[f"{key}_hi"] = _quantiles(boot[key], ci)
    if out["n_boot_valid"] < n_boot:
        out["note"] = f"{n_boot - out['n_boot_valid']} of {n_boot} bootstrap replicates were degenerate (dropped)"
    return out


FIG14_STATS_SCHEMA = {
    "setting": pl.String,
    "points": pl.String,
    "n": pl.Int64,
    **{f"{k}{s}": pl.Float64 for k in FIT_KEYS for s in ("", "_lo", "_hi")},
    "deming_slope_lo_t": pl.Float64,
    "deming_slope_hi_t": pl.Float64,
    "deming_delta": pl.Float64,
    "x_reliability": pl.Float64,
    "bootstrap": pl.String,
    "n_boot": pl.Int64,
    "n_boot_valid": pl.Int64,
    "ci": pl.Float64,
    "note": pl.String,
}


def fig14_stats(
    points: pl.DataFrame,
    *,
    bootstrap: str = "variations",
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    paper: bool = False,
) -> pl.DataFrame:
    """Fit statistics per setting over the included points (`paper=True`: over their paper reference points)."""
    rows = []
    for setting in sorted(points["setting"].unique().to_list(), key=setting_key) if points.height else []:
        sub = points.filter(pl.col("setting") == setting)
        if paper:
            sub = sub.filter(pl.col("paper_af").is_not_null() & pl.col("paper_gap").is_not_null())
            cols = ("paper_af", "paper_gap", "paper_af_se", "paper_gap_se")
            draws, label = None, "paper reference numbers"
        else:
            sub = sub.filter(pl.col("included"))
            cols = ("af_pct", "gap_pp", "af_se", "gap_se")
            draws = transcript_draws(sub, n_boot, np.random.default_rng([seed, 1])) if sub.height else None
            label = "+".join(sorted(set(sub["source"].to_list()))) or "none"
        x, y, x_se, y_se = (sub[c].fill_null(0.0).to_numpy() if "se" in c else sub[c].to_numpy() for c in cols)
        kw = {"draws": draws, "n_boot": n_boot, "seed": seed, "ci": ci}
        res = fit_stats(x, y, x_se, y_se, bootstrap=bootstrap, **kw)
        # the Deming slope's CI from transcript noise alone (variations fixed): how precisely these
        # transcripts pin the slope down; Deming stays consistent when the same noise is added again
        if not paper:  # aggregate-only reference points have no transcripts to resample
            only_t = res
            if bootstrap != "transcripts":
                only_t = fit_stats(x, y, x_se, y_se, bootstrap="transcripts", spearman=False, **kw)
            res["deming_slope_lo_t"], res["deming_slope_hi_t"] = only_t["deming_slope_lo"], only_t["deming_slope_hi"]
        rows.append({"setting": setting, "points": label, **res})
    return pl.DataFrame(rows, schema=FIG14_STATS_SCHEMA)


def paper_points(table: pl.DataFrame) -> pl.DataFrame:
    """A paper-numbers table (columns row, setting, af, af_se, gap, gap_se) as Fig. 14 points."""
    return table.select(
        pl.col("setting"),
        pl.col("row").cast(pl.String).alias("label"),
        pl.col("af").alias("af_pct"),
        pl.col("af_se"),
        pl.col("gap").alias("gap_pp"),
        pl.col("gap_se"),
        pl.lit(True).alias("included"),
        pl.lit("paper").alias("source"),
    )
