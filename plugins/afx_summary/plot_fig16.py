"""Fig. 16 (stacked compliance bars per tier, AF and unmonitored reasoning hatched), split from plots.py."""

from __future__ import annotations

import polars as pl
from matplotlib.figure import Figure

from .plots import (
    COMPLIANT,
    HATCH_EDGE,
    NONCOMPLIANCE,
    NONCOMPLIANT,
    TIER_NAMES,
    _empty,
    _footer,
    _new,
    _panel_title,
    _patch,
    _varying,
    _wrap,
    baseline,
    fit_width,
)


def fig16(table: pl.DataFrame, footer: str = "") -> Figure:
    """Stacked compliant / non-compliant bars per tier; AF share hatched in training, unmonitored-reasoning
    share hatched in unmonitored."""
    groups = baseline(table)
    fig, axes = _new(len(groups), width=4.0, height=5.0)
    if not groups:
        _empty(axes[0], "n/a: no runs selected")
    vary = _varying(groups)
    for ax, (key, sub) in zip(axes, groups, strict=False):
        for i, r in enumerate(sub.iter_rows(named=True)):
            if r["noncompliant_pct"] is None:
                ax.text(i, 50, _wrap(f"n/a: {r['note'] or 'no data'}", 22), ha="center", va="center", fontsize=7)
                continue
            nc, hatched = r["noncompliant_pct"], r["hatched_pct"]
            comp = 100 - nc
            if r["tier"] == "train":
                ax.bar(i, nc, 0.6, color=NONCOMPLIANT)
                h = hatched if hatched is not None else 0.0
                ax.bar(i, comp - h, 0.6, bottom=nc, color=COMPLIANT)
                ax.bar(i, h, 0.6, bottom=100 - h, color=COMPLIANT, hatch="xx", edgecolor=HATCH_EDGE, lw=0)
                y_h = 100 - h / 2
            else:
                h = hatched if hatched is not None else 0.0
                ax.bar(i, h, 0.6, color=NONCOMPLIANT, hatch="xx", edgecolor=HATCH_EDGE, lw=0)
                ax.bar(i, nc - h, 0.6, bottom=h, color=NONCOMPLIANT)
                ax.bar(i, comp, 0.6, bottom=nc, color=COMPLIANT)
                y_h = h / 2
            label = "n/a" if hatched is None else f"{hatched:.1f}%"
            if hatched is not None and r.get("hatched_lo") is not None:
                label += f"\n[{r['hatched_lo']:.1f}, {r['hatched_hi']:.1f}]"
            ax.text(i + 0.33, y_h, label, va="center", fontsize=7, color=HATCH_EDGE)
            ax.text(i, -6, f"n={r['n']}", ha="center", va="top", fontsize=7)
        ax.set_xticks(range(sub.height), [TIER_NAMES.get(t, t) for t in sub["tier"].to_list()], fontsize=9)
        ax.set_xlim(-0.6, sub.height - 0.1)
        ax.set_ylim(-12, 104)
        ax.set_ylabel("share of valid transcripts (%)")
        what = NONCOMPLIANCE.get(str(key["setting"]))
        ax.set_title(_panel_title(key, vary) + (f"\nnon-compliant = {what}" if what else ""), fontsize=9)
    handles = [
        _patch(NONCOMPLIANT, "", "non-compliant"),
        _patch(COMPLIANT, "", "compliant"),
        _patch(COMPLIANT, "xx", "AF reasoning (training, compliant)"),
        _patch(NONCOMPLIANT, "xx", "unmonitored reasoning (non-compliant)"),
    ]
    # the legend's title is the figure title: one "outside" element, which constrained layout places cleanly
    legend = fig.legend(
        handles=handles,
        loc="outside upper center",
        ncols=2,
        fontsize=8,
        frameon=False,
        title=fit_width(fig, "Fig. 16: compliance by tier, AF and unmonitored reasoning hatched", 11),
    )
    legend.get_title().set_fontsize(11)
    _footer(fig, footer)
    return fig
