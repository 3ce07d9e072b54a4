"""Plots of a validation: ROC curves (one line per label with an AUROC) and the votes curve."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the file-only backend

from afx.classify.agreement import roc_curve  # noqa: E402
from afx.classify.validate_score import LabelData  # noqa: E402


def roc_png(data: Mapping[str, LabelData], report: Mapping[str, Any], path: Path, title: str) -> Path | None:
    """One ROC curve per gold label whose report has an AUROC; None (no file) when no label has one."""
    drawn = 0
    fig, ax = plt.subplots(figsize=(5, 5))
    for key, d in data.items():
        value = report["labels"].get(key, {}).get("auroc")
        if value is None:
            continue
        scored = [(g, s) for g, s in zip(d.gold, d.scores, strict=True) if s is not None]
        fpr, tpr = roc_curve([g for g, _ in scored], [s for _, s in scored])
        ax.plot(fpr, tpr, marker=".", label=f"{key}: AUROC {value:.3f} (n={len(scored)})")
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def votes_png(curve: Mapping[str, Any], path: Path, title: str) -> Path:
    """Kappa and AUROC against the number of votes, per label (cost per transcript in the x tick labels)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    xs = list(range(1, curve["k"] + 1))
    for key, lab in curve["labels"].items():
        left.plot(xs, [float("nan") if v is None else v for v in lab["kappa"]], marker="o", label=key)
        right.plot(xs, [float("nan") if v is None else v for v in lab["auroc"]], marker="o", label=key)
    calls = curve.get("calls_per_transcript")
    ticks = [f"{m}\n{calls[m - 1]:g} calls" if calls else str(m) for m in xs]
    for ax, name in ((left, "Cohen's kappa"), (right, "AUROC")):
        ax.set_xticks(xs, ticks)
        ax.set(xlabel="votes (judge calls per transcript)", ylabel=name)
        ax.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
