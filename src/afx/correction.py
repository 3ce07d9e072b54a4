"""Rates corrected for classifier (judge) error: Rogan-Gladen, its parametric-bootstrap interval, and the
misclassification correction of a 2x2 table. Pure math (numpy); the only I/O is `load_confusion`.

A classifier with sensitivity Se and specificity Sp flags a share p_obs = Se * q + (1 - Sp) * (1 - q) of
items whose true share is q, so q = (p_obs + Sp - 1) / (Se + Sp - 1) (Rogan & Gladen 1978), clipped to [0, 1].
When Se + Sp <= 1 the classifier carries no information about q (or inverts it) and nothing is corrected.

Interval: every replicate draws Se ~ Beta(tp + a, fn + a) and Sp ~ Beta(tn + a, fp + a) from the validation
confusion counts and the observed share ~ Beta(k + a, n - k + a) from the run's counts (a = 0.5, Jeffreys),
then corrects; the percentile interval of the replicates carries the sampling noise of p_obs AND of Se, Sp.
Replicates with Se + Sp <= 1 are dropped and counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from afx.errors import AfxError

JEFFREYS = 0.5


class CorrectionError(AfxError):
    """A correction that cannot be made (no information in the classifier, missing counts)."""


@dataclass(frozen=True)
class Confusion:
    """Validation counts of one binary label against gold: the classifier's errors."""

    tp: int
    fp: int
    fn: int
    tn: int
    source: str = ""  # where the counts came from (report path and label), for the figure stamp

    @classmethod
    def from_mapping(cls, counts: Mapping[str, Any], source: str = "") -> Confusion:
        try:
            values = {k: int(counts[k]) for k in ("tp", "fp", "fn", "tn")}
        except (KeyError, TypeError, ValueError) as exc:
            raise CorrectionError(f"{source or 'confusion'}: needs integer counts tp, fp, fn, tn ({exc})") from exc
        if min(values.values()) < 0:
            raise CorrectionError(f"{source or 'confusion'}: negative counts {values}")
        return cls(**values, source=source)

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def specificity(self) -> float:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else math.nan

    def refusal(self) -> str | None:
        """Why these counts cannot correct anything, or None."""
        if not self.tp + self.fn:
            return "no gold-positive items in the validation set (sensitivity unknown)"
        if not self.tn + self.fp:
            return "no gold-negative items in the validation set (specificity unknown)"
        return refusal(self.sensitivity, self.specificity)

    def describe(self) -> str:
        return f"sens {self.sensitivity:.2f}, spec {self.specificity:.2f}"


def refusal(sens: float, spec: float) -> str | None:
    """Why Rogan-Gladen cannot be applied with these rates, or None."""
    if not (math.isfinite(sens) and math.isfinite(spec)):
        return "sensitivity or specificity unknown"
    if sens + spec <= 1:
        return (
            f"sensitivity + specificity = {sens:.2f} + {spec:.2f} = {sens + spec:.2f} <= 1: the classifier "
            "carries no information about the true rate, so it cannot be corrected"
        )
    return None


def rogan_gladen(p_obs: float, sens: float, spec: float) -> float:
    """True share from an observed share, clipped to [0, 1]; raises CorrectionError when Se + Sp <= 1."""
    why = refusal(sens, spec)
    if why:
        raise CorrectionError(why)
    return float(min(1.0, max(0.0, (p_obs + spec - 1) / (sens + spec - 1))))


def rogan_gladen_array(p_obs: np.ndarray, sens: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """Vectorised Rogan-Gladen, clipped; NaN where Se + Sp <= 1 (no information)."""
    j = np.asarray(sens, float) + np.asarray(spec, float) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (np.asarray(p_obs, float) + spec - 1) / j
    return np.where(j > 0, np.clip(q, 0.0, 1.0), np.nan)


def draw_rates(confusion: Confusion, n_boot: int, rng: np.random.Generator, prior: float = JEFFREYS) -> tuple:
    """(sens, spec) arrays of n_boot draws from their Beta posteriors given the validation counts."""
    c = confusion
    return rng.beta(c.tp + prior, c.fn + prior, n_boot), rng.beta(c.tn + prior, c.fp + prior, n_boot)


def draw_share(k: float, n: float, n_boot: int, rng: np.random.Generator, prior: float = JEFFREYS) -> np.ndarray:
    """n_boot draws of an observed share k / n from its Beta posterior (Jeffreys by default)."""
    return rng.beta(k + prior, n - k + prior, n_boot)


@dataclass(frozen=True)
class Corrected:
    """A corrected share (0..1) with its percentile interval; value NaN and `reason` set when refused."""

    value: float
    lo: float
    hi: float
    p_obs: float
    sens: float
    spec: float
    dropped: int = 0  # bootstrap replicates with Se + Sp <= 1
    reason: str | None = None


def interval(values: np.ndarray, ci: float = 0.95) -> tuple[float, float, int]:
    """Percentile interval over the finite replicates and how many were dropped (NaN interval if < half)."""
    finite = values[np.isfinite(values)]
    dropped = int(values.size - finite.size)
    if finite.size < max(10, values.size // 2):
        return math.nan, math.nan, dropped
    lo, hi = np.quantile(finite, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi), dropped


def corrected_share(
    k: float,
    n: float,
    confusion: Confusion,
    *,
    n_boot: int = 4000,
    ci: float = 0.95,
    seed: int | np.random.Generator = 0,
    prior: float = JEFFREYS,
) -> Corrected:
    """Rogan-Gladen estimate of the true share behind k flagged of n, with an interval that carries the
    uncertainty of the observed share and of the classifier's sensitivity and specificity."""
    sens, spec = confusion.sensitivity, confusion.specificity
    p_obs = k / n if n else math.nan
    why = confusion.refusal() or (None if n else "no items to correct")
    if why:
        return Corrected(math.nan, math.nan, math.nan, p_obs, sens, spec, reason=why)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    s, c = draw_rates(confusion, n_boot, rng, prior)
    draws = rogan_gladen_array(draw_share(k, n, n_boot, rng, prior), s, c)
    lo, hi, dropped = interval(draws, ci)
    return Corrected(rogan_gladen(p_obs, sens, spec), lo, hi, p_obs, sens, spec, dropped)


def correct_2x2(
    flagged: np.ndarray, total: np.ndarray, sens: np.ndarray, spec: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Back-calculate true-positive counts per outcome column of a 2x2 (label x outcome) table.

    `flagged[y]` items of `total[y]` in outcome column y were flagged; with non-differential error (Se, Sp
    the same in every column) the true number with the label is A_y = (F_y - (1 - Sp) T_y) / (Se + Sp - 1),
    clipped to [0, T_y]. Returns (A_y, T_y - A_y); NaN where Se + Sp <= 1. Broadcasts over replicates.
    """
    f, t = np.asarray(flagged, float), np.asarray(total, float)
    j = np.asarray(sens, float) + np.asarray(spec, float) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (f - (1 - np.asarray(spec, float)) * t) / j
    a = np.where(j > 0, np.clip(a, 0.0, t), np.nan)
    return a, t - a


def conditional_rates(
    af_nc: np.ndarray, af_c: np.ndarray, no_nc: np.ndarray, no_c: np.ndarray, sens: np.ndarray, spec: np.ndarray
) -> dict[str, np.ndarray]:
    """Corrected P(non-compliant | AF), P(non-compliant | no AF) and the AF share from observed cell counts
    (flagged & non-compliant, flagged & compliant, unflagged & non-compliant, unflagged & compliant)."""
    a_nc, b_nc = correct_2x2(af_nc, np.asarray(af_nc) + no_nc, sens, spec)
    a_c, b_c = correct_2x2(af_c, np.asarray(af_c) + no_c, sens, spec)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "af": a_nc / (a_nc + a_c),
            "no_af": b_nc / (b_nc + b_c),
            "af_share": (a_nc + a_c) / (a_nc + a_c + b_nc + b_c),
        }


def load_confusion(path: str | Path, label: str) -> Confusion:
    """`labels.<label>.confusion` of a validation report (JSON written by `afx validate-classifier out=`)."""
    p = Path(path)
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CorrectionError(f"validation report {p}: no such file") from exc
    except (OSError, ValueError) as exc:
        raise CorrectionError(f"validation report {p}: not readable JSON ({exc})") from exc
    labels = report.get("labels") if isinstance(report, dict) else None
    entry = (labels or {}).get(label) if isinstance(labels, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("confusion"), dict):
        have = ", ".join(sorted(k for k, v in (labels or {}).items() if isinstance(v, dict) and v.get("confusion")))
        raise CorrectionError(
            f"validation report {p}: no labels.{label}.confusion counts (labels with counts: {have or 'none'})"
        )
    return Confusion.from_mapping(entry["confusion"], source=f"{p.name}:{label}")
