"""Judge-error correction of the summary's AF numbers (`afx summary --correct-with REPORT`, callback key
`correct_with`), with the math of src/afx/correction.py:

* Fig. 14 x: for each AF label with confusion counts in the report, the share of judged compliant training
  transcripts that the judge flags is corrected by Rogan-Gladen and multiplied by the compliant share (taken
  as measured: the compliance label is not corrected); x = mean of the corrected af_partial and af_full rates
  (one label only when the report has counts for only one, and the stamp says which).
* Fig. 15 cells: per tier, the 2x2 table (flagged / not) x (non-compliant / compliant) is back-calculated
  with non-differential error (the judge's Se and Sp the same for compliant and non-compliant transcripts):
  true AF count per compliance column A_y = (F_y - (1 - Sp) T_y) / (Se + Sp - 1), clipped to [0, T_y]; the
  cell rates are non-compliance among the corrected AF-present and AF-absent transcripts.
* Intervals: percentile 95% of a parametric bootstrap that draws Se and Sp from Beta posteriors of the
  report's counts and the run's observed shares or cells from Beta / Dirichlet posteriors of its counts
  (Jeffreys prior, `correct_prior`); in Fig. 15 one Se, Sp draw is shared by both tiers of a replicate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from afx.correction import (
    Confusion,
    CorrectionError,
    conditional_rates,
    draw_rates,
    draw_share,
    interval,
    load_confusion,
    rogan_gladen,
    rogan_gladen_array,
)
from afx.errors import AfxError

from .statistics import AF_LABELS, TIERS


@dataclass(frozen=True)
class Correction:
    """The validation counts a summary corrects with, per AF label."""

    report: Path
    confusions: dict[str, Confusion]
    prior: float = 0.5

    def stamp(self, labels: Iterable[str] = AF_LABELS) -> str:
        """'corrected with report.json (af_partial: sens 0.80, spec 0.90; ...)': on figures and in tables."""
        parts = [f"{label}: {self.confusions[label].describe()}" for label in labels if label in self.confusions]
        return f"corrected with {self.report.name} ({'; '.join(parts) or 'no counts'})"

    def refusals(self) -> list[str]:
        return [f"{label}: {why}" for label, c in self.confusions.items() if (why := c.refusal())]


def load_correction(path: str | Path, labels: Iterable[str] = AF_LABELS, prior: float = 0.5) -> Correction:
    """Counts of every AF label the report has; AfxError (one line) when it has none."""
    confusions, errors = {}, []
    for label in labels:
        try:
            confusions[label] = load_confusion(path, label)
        except CorrectionError as exc:
            if "no such file" in str(exc) or "not readable" in str(exc):
                raise
            errors.append(str(exc))
    if not confusions:
        raise AfxError(f"--correct-with: {errors[0]}")
    return Correction(Path(path), confusions, prior)


# ------------------------------------------------------------------------------------------- Fig. 14


def _corrected_af(
    r: Mapping[str, Any], corr: Correction, n_boot: int, rng: np.random.Generator
) -> tuple[float, np.ndarray] | str:
    """Corrected AF mean (share) of one point and its bootstrap replicates, or why it cannot be corrected."""
    values, draws = [], []
    nc = r.get("b_train_nc")
    for label in (lab for lab in AF_LABELS if lab in corr.confusions):
        known, k = r.get(f"train_known_{label}"), r.get(f"train_k_{label}")
        if known is None or k is None or nc is None:
            return "no transcript counts to correct (logged metrics only)"
        if not known:
            return f"no training transcript with a known {label} indicator"
        m = known - nc  # judged compliant transcripts: the AF label's denominator among the compliant
        if m <= 0:  # every known transcript is non-compliant: AF (flagged and compliant) is exactly 0
            values.append(0.0)
            draws.append(np.zeros(n_boot))
            continue
        c = corr.confusions[label]
        why = c.refusal()
        if why:
            return f"{label}: {why}"
        values.append(rogan_gladen(k / m, c.sensitivity, c.specificity) * m / known)
        sens, spec = draw_rates(c, n_boot, rng, corr.prior)
        draws.append(rogan_gladen_array(draw_share(k, m, n_boot, rng, corr.prior), sens, spec) * m / known)
    return float(np.mean(values)), np.mean(draws, axis=0)


def correct_fig14(points: pl.DataFrame, corr: Correction, n_boot: int, seed: int, ci: float) -> pl.DataFrame:
    """Fig. 14 points with x (AF rate) corrected for judge error; `af_obs_pct` keeps the observed rate."""
    if not points.height:
        return points
    rows = []
    for j, r in enumerate(points.iter_rows(named=True)):
        r = dict(r)
        got = _corrected_af(r, corr, n_boot, np.random.default_rng([seed, 14, j]))
        r["corrected"] = corr.stamp()
        if isinstance(got, str):
            r.update(af_pct=None, af_se=None, af_lo=None, af_hi=None, included=False)
            r["note"] = "; ".join(filter(None, [r.get("note"), f"AF not corrected: {got}"]))
        else:
            value, draws = got
            lo, hi, _ = interval(draws, ci)
            finite = draws[np.isfinite(draws)]
            r.update(
                af_pct=100 * value,
                af_se=100 * float(np.std(finite, ddof=1)) if finite.size > 1 else None,
                af_lo=None if math.isnan(lo) else 100 * lo,
                af_hi=None if math.isnan(hi) else 100 * hi,
            )
        rows.append(r)
    return pl.DataFrame(rows, schema=points.schema)


# ------------------------------------------------------------------------------------------- Fig. 15


def _cells(r: Mapping[str, Any], tier: str) -> np.ndarray | None:
    """Observed counts (flagged & nc, flagged & compliant, unflagged & nc, unflagged & compliant) of a tier."""
    n_af, k_af = r.get(f"cond_{tier}_af_n"), r.get(f"cond_{tier}_af_k")
    n_no, k_no = r.get(f"cond_{tier}_no_af_n"), r.get(f"cond_{tier}_no_af_k")
    if None in (n_af, k_af, n_no, k_no):
        return None
    return np.array([k_af, n_af - k_af, k_no, n_no - k_no], float)


def _dirichlet_counts(cells: np.ndarray, n_boot: int, rng: np.random.Generator, prior: float) -> np.ndarray:
    """(n_boot, 4) posterior draws of the cell counts (Dirichlet shares times the tier's total)."""
    g = rng.gamma(cells + prior, size=(n_boot, cells.size))
    return g / g.sum(axis=1, keepdims=True) * cells.sum()


def correct_cond(
    cond: pl.DataFrame, corr: Correction, label: str, n_boot: int, seed: int, ci: float
) -> tuple[pl.DataFrame, list[str]]:
    """The per-run frame with Fig. 15's cells (`cond_<tier>_<flag>_*`) and gaps corrected for the judge's
    error on `label`; returns it with notes (runs that could not be corrected, and why)."""
    if label not in corr.confusions:
        raise AfxError(f"--correct-with {corr.report}: no labels.{label}.confusion counts (Fig. 15 conditions on it)")
    c = corr.confusions[label]
    why_all = c.refusal()
    rows, notes = [], []
    for i, r in enumerate(cond.iter_rows(named=True)):
        r = dict(r)
        cells = {t: _cells(r, t) for t in TIERS}
        why = why_all or (
            "no transcript counts to correct (logged metrics only)" if any(v is None for v in cells.values()) else None
        )
        rng = np.random.default_rng([seed, 15, i])
        sens, spec = draw_rates(c, n_boot, rng, corr.prior)
        boot: dict[str, dict[str, np.ndarray]] = {}
        for tier in TIERS:
            obs = cells[tier]
            for flag in ("af", "no_af"):
                r[f"cond_{tier}_{flag}_obs_pct"] = r.get(f"cond_{tier}_{flag}_pct")
            if why or obs is None:
                for flag in ("af", "no_af"):
                    _put(r, f"cond_{tier}_{flag}", None, None, (None, None), why or "no counts")
                continue
            point = conditional_rates(*obs, c.sensitivity, c.specificity)
            draws = conditional_rates(*_dirichlet_counts(obs, n_boot, rng, corr.prior).T, sens, spec)
            boot[tier] = draws
            for flag in ("af", "no_af"):
                lo, hi, _ = interval(draws[flag], ci)
                value = float(point[flag])
                empty = f"no {tier} transcripts in the corrected {'AF-present' if flag == 'af' else 'AF-absent'} cell"
                _put(r, f"cond_{tier}_{flag}", value, draws[flag], (lo, hi), empty)
        for flag in ("af", "no_af"):
            name = f"cond_{flag}_gap"
            a, b = r.get(f"cond_unmonitored_{flag}_pct"), r.get(f"cond_train_{flag}_pct")
            if a is None or b is None or len(boot) < 2:
                r.update({f"{name}_pp": None, f"{name}_se": None, f"{name}_ci_lo": None, f"{name}_ci_hi": None})
                r[f"na_{name}"] = why or "a tier has no transcripts in this corrected cell"
                continue
            gaps = 100 * (boot["unmonitored"][flag] - boot["train"][flag])
            lo, hi, _ = interval(gaps, ci)
            finite = gaps[np.isfinite(gaps)]
            r.update(
                {
                    f"{name}_pp": a - b,
                    f"{name}_se": float(np.std(finite, ddof=1)) if finite.size > 1 else None,
                    f"{name}_ci_lo": None if math.isnan(lo) else lo,
                    f"{name}_ci_hi": None if math.isnan(hi) else hi,
                    f"na_{name}": None,
                }
            )
        if why:
            notes.append(f"run {r['run_id']}: Fig. 15 not corrected: {why}")
        rows.append(r)
    schema = {**cond.schema, **{f"cond_{t}_{f}_obs_pct": pl.Float64 for t in TIERS for f in ("af", "no_af")}}
    return pl.DataFrame(rows, schema=schema), notes


def _put(r: dict[str, Any], name: str, value: float | None, draws: Any, ci: tuple, why: str) -> None:
    ok = value is not None and math.isfinite(value)
    finite = draws[np.isfinite(draws)] if ok else np.array([])
    lo, hi = ci
    r[f"{name}_pct"] = 100 * value if ok else None
    r[f"{name}_se"] = 100 * float(np.std(finite, ddof=1)) if finite.size > 1 else None
    r[f"{name}_lo"] = 100 * lo if ok and lo is not None and not math.isnan(lo) else None
    r[f"{name}_hi"] = 100 * hi if ok and hi is not None and not math.isnan(hi) else None
    r[f"na_{name}"] = None if ok else why
