"""Agreement of a binary classifier with gold labels: point scores, bootstrap 95% intervals, AUROC and ROC.

`binary_scores` gives accuracy, precision, recall (= sensitivity), specificity, F1, Cohen's kappa and the
confusion matrix of (gold, predicted) pairs; `bootstrap_ci` resamples the pairs (seeded) for percentile
intervals; `auroc` is the Mann-Whitney estimate (ties count one half) from a continuous score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

CI_METRICS = ("kappa", "accuracy", "precision", "recall", "f1", "sensitivity", "specificity")


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def kappa_from_counts(tp: int, fp: int, fn: int, tn: int) -> float:
    """Cohen's kappa; 1 when both sides agree perfectly, 0 when chance agreement is total but agreement is not."""
    n = tp + fp + fn + tn
    acc = (tp + tn) / n
    expected = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
    return (acc - expected) / (1 - expected) if expected < 1 else (1.0 if acc == 1 else 0.0)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def binary_scores(pairs: Iterable[tuple[bool, bool]]) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, sensitivity, specificity, Cohen's kappa and the confusion matrix."""
    pairs = list(pairs)
    n = len(pairs)
    if n == 0:
        return {"n": 0, "na": "no items with both a gold label and a prediction"}
    tp = sum(g and p for g, p in pairs)
    tn = sum(not g and not p for g, p in pairs)
    fp = sum(not g and p for g, p in pairs)
    fn = sum(g and not p for g, p in pairs)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "n": n,
        "accuracy": _round((tp + tn) / n),
        "precision": _round(precision),
        "recall": _round(recall),
        "f1": _round(_ratio(2 * tp, 2 * tp + fp + fn)),
        "kappa": _round(kappa_from_counts(tp, fp, fn, tn)),
        "sensitivity": _round(recall),
        "specificity": _round(_ratio(tn, tn + fp)),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def _vector_metrics(gold: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """Every CI metric for each row of (resamples x n) boolean arrays; NaN where a metric is undefined."""
    tp = (gold & pred).sum(axis=1).astype(float)
    tn = (~gold & ~pred).sum(axis=1).astype(float)
    fp = (~gold & pred).sum(axis=1).astype(float)
    fn = (gold & ~pred).sum(axis=1).astype(float)
    n = tp + tn + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = (tp + tn) / n
        expected = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
        kappa = np.where(expected < 1, (acc - expected) / (1 - expected), np.where(acc == 1, 1.0, 0.0))
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        return {
            "kappa": kappa,
            "accuracy": acc,
            "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "recall": recall,
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
            "sensitivity": recall,
            "specificity": np.where(tn + fp > 0, tn / (tn + fp), np.nan),
        }


def bootstrap_ci(
    pairs: Sequence[tuple[bool, bool]], resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, list[float] | None]:
    """Percentile bootstrap intervals of every CI metric: the items are resampled with replacement (seeded).

    A resample in which a metric is undefined (e.g. precision with no predicted positive) is left out of that
    metric's interval; a metric undefined in every resample gets None.
    """
    if not pairs or resamples < 1:
        return dict.fromkeys(CI_METRICS)
    gold = np.array([bool(g) for g, _ in pairs])
    pred = np.array([bool(p) for _, p in pairs])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(pairs), size=(resamples, len(pairs)))
    values = _vector_metrics(gold[idx], pred[idx])
    tail = (1 - level) / 2 * 100
    out: dict[str, list[float] | None] = {}
    for name in CI_METRICS:
        finite = values[name][np.isfinite(values[name])]
        if finite.size == 0:
            out[name] = None
        else:
            lo, hi = np.percentile(finite, [tail, 100 - tail])
            out[name] = [round(float(lo), 4), round(float(hi), 4)]
    return out


def auroc(gold: Sequence[bool], scores: Sequence[float]) -> float | None:
    """P(score of a random positive > score of a random negative), ties one half; None without both classes."""
    g = np.asarray(gold, dtype=bool)
    s = np.asarray(scores, dtype=float)
    pos, neg = s[g], s[~g]
    if pos.size == 0 or neg.size == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def roc_curve(gold: Sequence[bool], scores: Sequence[float]) -> tuple[list[float], list[float]]:
    """(false positive rates, true positive rates) at every distinct threshold, from (0, 0) to (1, 1)."""
    g = np.asarray(gold, dtype=bool)
    s = np.asarray(scores, dtype=float)
    n_pos, n_neg = int(g.sum()), int((~g).sum())
    fpr, tpr = [0.0], [0.0]
    for threshold in sorted(set(s.tolist()), reverse=True):
        above = s >= threshold
        tpr.append(float((above & g).sum() / n_pos) if n_pos else 0.0)
        fpr.append(float((above & ~g).sum() / n_neg) if n_neg else 0.0)
    if fpr[-1] != 1.0 or tpr[-1] != 1.0:
        fpr.append(1.0)
        tpr.append(1.0)
    return fpr, tpr


def bootstrap_auroc_ci(
    gold: Sequence[bool], scores: Sequence[float], resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> list[float] | None:
    """Percentile bootstrap interval of the AUROC (resamples with one class only are left out)."""
    g = np.asarray(gold, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if g.size == 0 or resamples < 1 or g.all() or not g.any():
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, g.size, size=g.size)
        value = auroc(g[idx], s[idx])
        if value is not None:
            values.append(value)
    if not values:
        return None
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return [round(float(lo), 4), round(float(hi), 4)]
