"""The votes curve: how kappa and AUROC grow with the number of judge votes, from the votes already stored.

A judge run with `classifier.votes=k` keeps every label's k votes. For m = 1..k, each draw picks a random m of
each item's k votes (seeded), decides the label by the judge's own rule (majority: share > 0.5; threshold:
share >= threshold) and scores it; kappa and AUROC (from the m-vote share) are averaged over the draws. The
cost column scales the run's measured judge calls (and tokens) per transcript by m / k.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from afx.classify.agreement import auroc, kappa_from_counts
from afx.classify.validate_score import LabelData


def _vote_matrix(d: LabelData, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(gold, n x k votes with NaN for an unparsed vote) over the items that carry k votes."""
    rows, gold = [], []
    for g, votes in zip(d.gold, d.votes, strict=True):
        if votes is not None and len(votes) == k:
            rows.append([np.nan if v is None else float(bool(v)) for v in votes])
            gold.append(g)
    if not rows:
        return None
    return np.array(gold, dtype=bool), np.array(rows, dtype=float)


def _kappa(gold: np.ndarray, pred: np.ndarray) -> float:
    tp = int((gold & pred).sum())
    fp = int((~gold & pred).sum())
    fn = int((gold & ~pred).sum())
    tn = int((~gold & ~pred).sum())
    return kappa_from_counts(tp, fp, fn, tn)


def label_curve(
    d: LabelData, k: int, draws: int, seed: int, vote_rule: str = "majority", threshold: float = 0.5
) -> dict[str, Any] | None:
    """Mean kappa and AUROC for 1..k votes for one label, or None when no item carries k votes."""
    matrix = _vote_matrix(d, k)
    if matrix is None:
        return None
    gold, votes = matrix
    rng = np.random.default_rng(seed)
    kappas: list[float | None] = []
    aurocs: list[float | None] = []
    for m in range(1, k + 1):
        ks, aus = [], []
        for _ in range(draws if m < k else 1):  # all k votes: one draw is every draw
            pick = rng.random(votes.shape).argsort(axis=1)[:, :m]
            sub = np.take_along_axis(votes, pick, axis=1)
            known = ~np.isnan(sub).all(axis=1)
            if not known.any():
                continue
            with np.errstate(invalid="ignore"):
                share = np.nanmean(sub[known], axis=1)
            decided = share > 0.5 if vote_rule == "majority" else share >= threshold
            ks.append(_kappa(gold[known], decided))
            value = auroc(gold[known], share)
            if value is not None:
                aus.append(value)
        kappas.append(round(float(np.mean(ks)), 4) if ks else None)
        aurocs.append(round(float(np.mean(aus)), 4) if aus else None)
    return {"n": int(len(gold)), "votes": list(range(1, k + 1)), "kappa": kappas, "auroc": aurocs}


def votes_curve(
    data: Mapping[str, LabelData],
    k: int,
    draws: int = 200,
    seed: int = 0,
    vote_rule: str = "majority",
    threshold: float = 0.5,
    calls_per_transcript: float | None = None,
    tokens_per_transcript: float | None = None,
) -> dict[str, Any] | None:
    """The report's `votes_curve` for a judge run with k >= 2 votes, or None when there is nothing to show."""
    if k < 2:
        return None
    labels = {}
    for i, (gold_key, d) in enumerate(data.items()):
        curve = label_curve(d, k, draws, seed + i, vote_rule, threshold)
        if curve is not None:
            labels[gold_key] = curve
    if not labels:
        return None

    def scaled(total: float | None) -> list[float] | None:
        return None if total is None else [round(total * m / k, 3) for m in range(1, k + 1)]

    return {
        "k": k,
        "draws": draws,
        "seed": seed,
        "vote_rule": vote_rule,
        "threshold": threshold,
        "calls_per_transcript": scaled(calls_per_transcript),
        "tokens_per_transcript": scaled(tokens_per_transcript),
        "labels": labels,
    }


def curve_markdown(curve: Mapping[str, Any]) -> str:
    """The votes curve as a table: one row per number of votes."""
    names = list(curve["labels"])
    head = ["votes", "calls/transcript", "tokens/transcript"] + [f"{n} {m}" for n in names for m in ("kappa", "auroc")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i in range(curve["k"]):
        calls = curve["calls_per_transcript"][i] if curve["calls_per_transcript"] else "n/a"
        tokens = curve["tokens_per_transcript"][i] if curve["tokens_per_transcript"] else "n/a"
        cells = [str(i + 1), str(calls), str(tokens)]
        for n in names:
            lab = curve["labels"][n]
            cells += [str(lab["kappa"][i]), str(lab["auroc"][i])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
