"""Figures 13-16 from the analysis tables. Plain matplotlib `Figure` objects (Agg canvas, no pyplot state),
so plotting is safe inside a Hydra process that runs other jobs and never opens a window.

Every missing number is drawn as an explicit "n/a" with its reason, never as a zero-height bar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .analysis import setting_key

SETTING_NAMES = {"helpful_only": "helpful-only", "animal_welfare": "animal welfare"}
NONCOMPLIANCE = {"helpful_only": "refusals", "animal_welfare": "supports animal welfare"}
TIER_NAMES = {"train": "training", "unmonitored": "unmonitored"}
TIER_COLORS = {"train": "#4C72B0", "unmonitored": "#DD8452"}
NONCOMPLIANT, COMPLIANT, HATCH_EDGE = "#5B8DB8", "#E9C46A", "#B2182B"
MAX_PANELS = 6
PAPER = "paper reference numbers"
PANEL_KEYS = ("setting", "model", "classifier", "prefix_mode", "variation")


def _new(n_panels: int, width: float = 5.2, height: float = 4.4) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(max(1, n_panels) * width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, max(1, n_panels), squeeze=False)[0]
    return fig, list(axes)


def setting_name(setting: str) -> str:
    return SETTING_NAMES.get(setting, setting)


def _ylabel(setting: str) -> str:
    what = NONCOMPLIANCE.get(setting)
    return f"non-compliance (%): {what}" if what else "non-compliance (%)"


def _pct(value: float | None, se: float | None = None, unit: str = "%") -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}{unit}" if se is None else f"{value:.1f} ± {se:.1f}{unit}"


def _wrap(text: str, width: int = 42) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def _panel_title(key: Mapping[str, Any], vary: Sequence[str]) -> str:
    extra = ", ".join(f"{k}={key[k]}" for k in vary if k != "setting")
    return setting_name(str(key["setting"])) + (f"\n{extra}" if extra else "")


def panels(table: pl.DataFrame, keys: Sequence[str] = PANEL_KEYS) -> list[tuple[dict[str, Any], pl.DataFrame]]:
    """Split a table into one panel per distinct combination of `keys` (sorted, at most MAX_PANELS)."""
    if not table.height:
        return []
    combos = table.select(keys).unique(maintain_order=True)
    combos = combos.with_columns(_k=pl.col("setting").map_elements(lambda v: setting_key(v)[0], pl.Int64))
    combos = combos.sort("_k", "setting", maintain_order=True).drop("_k")
    out = []
    for combo in combos.iter_rows(named=True):
        mask = pl.all_horizontal(pl.col(k) == v for k, v in combo.items())
        out.append((combo, table.filter(mask)))
    return out


def _varying(groups: Sequence[tuple[dict[str, Any], pl.DataFrame]]) -> list[str]:
    keys = groups[0][0].keys() if groups else []
    return [k for k in keys if len({str(g[0][k]) for g in groups}) > 1]


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, _wrap(message, 50), ha="center", va="center", transform=ax.transAxes, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def fit_width(fig: Figure, text: str, fontsize: float) -> str:
    """Wrap each line of `text` to the figure's width (about 0.55 em per character)."""
    chars = max(30, int(fig.get_figwidth() * 72 / (0.55 * fontsize)) - 2)
    return "\n".join(_wrap(line, chars) for line in text.splitlines())


def _title(fig: Figure, text: str, fontsize: float = 11) -> None:
    fig.suptitle(fit_width(fig, text, fontsize), fontsize=fontsize)


def _footer(fig: Figure, text: str) -> None:
    """Provenance and instrument stamp at the bottom, inside the constrained layout (so savefig needs no
    tight bbox), wrapped to the figure's width so no part of the stamp is cut off."""
    if text:
        fig.supxlabel(fit_width(fig, text, 7), x=0.005, ha="left", fontsize=7, color="#555555")


def _na_mark(ax: Axes, x: float, why: str | None) -> None:
    ax.text(x, 2, "n/a", ha="center", va="bottom", fontsize=8, color="#B2182B", rotation=90)


def interval_errors(
    rows: Sequence[Mapping[str, Any]], name: str, value: str | None = None, se: str | None = None
) -> np.ndarray:
    """(2, n) asymmetric error bars from `<name>_lo` / `<name>_hi` (95% intervals); ±1.96 SEM where a row
    has no interval (aggregates logged without one)."""
    value, se = value or f"{name}_pct", se or f"{name}_se"
    out = np.zeros((2, len(rows)))
    for i, r in enumerate(rows):
        v, lo, hi = r.get(value), r.get(f"{name}_lo"), r.get(f"{name}_hi")
        if v is None:
            continue
        if lo is not None and hi is not None:
            out[:, i] = max(v - lo, 0.0), max(hi - v, 0.0)
        else:
            out[:, i] = 1.96 * (r.get(se) or 0.0)
    return out


def interval_text(v: float, lo: float | None, hi: float | None) -> str:
    """'12 [6–22]': a bar label with its 95% interval (never '0±0' at small n)."""
    return f"{v:.0f}" if lo is None or hi is None else f"{v:.0f} [{lo:.0f}–{hi:.0f}]"


def _bars(ax: Axes, centers: np.ndarray, rows: list[dict[str, Any]], tier: str, offset: float, width: float) -> None:
    values = [r[f"{tier}_pct"] for r in rows]
    errors = interval_errors(rows, tier)
    xs = centers + offset
    heights = [0.0 if v is None else v for v in values]
    bars = ax.bar(
        xs,
        heights,
        width,
        yerr=errors,
        capsize=3,
        color=TIER_COLORS[tier],
        label=TIER_NAMES[tier],
        error_kw={"elinewidth": 1},
    )
    for i, (bar, v, x, r) in enumerate(zip(bars, values, xs, rows, strict=True)):
        if v is None:
            bar.set_visible(False)
            _na_mark(ax, x, r.get("note"))
        else:
            n = r.get(f"{tier}_n")
            label = interval_text(v, r.get(f"{tier}_lo"), r.get(f"{tier}_hi")) + (f"\nn={n}" if n is not None else "")
            ax.text(x, min(v + errors[1, i] + 1.5, 101), label, ha="center", va="bottom", fontsize=6.5)


def _tier_legend(ax: Axes) -> None:
    handles = [_patch(TIER_COLORS[t], "", TIER_NAMES[t]) for t in ("train", "unmonitored")]
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False, ncols=2)


def _tier_pair_bars(ax: Axes, sub: pl.DataFrame) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Training and unmonitored bars side by side for each row of a panel; (rows, bar-pair centres)."""
    rows = list(sub.iter_rows(named=True))
    centers = np.arange(len(rows), dtype=float)
    for tier, offset in (("train", -0.2), ("unmonitored", 0.2)):
        _bars(ax, centers, rows, tier, offset, 0.38)
    return rows, centers


def fig13(table: pl.DataFrame, footer: str = "") -> Figure:
    """Non-compliance by tier x prefix (±1 SEM), one panel per setting (and model / variation if several)."""
    multi = [g for g in panels(table) if g[1]["prefix"].n_unique() > 1]
    default = [g for g in multi if g[0]["variation"] == "default"]
    # no prefix sweep in this selection: show the baseline condition of each setting rather than one
    # panel per variation
    groups = (default or multi or baseline(table))[:MAX_PANELS]
    fig, axes = _new(len(groups))
    if not groups:
        _empty(axes[0], "n/a: no runs selected")
    vary = _varying(groups)
    for ax, (key, sub) in zip(axes, groups, strict=False):
        rows, centers = _tier_pair_bars(ax, sub)
        ax.set_xticks(centers, [r["prefix"] for r in rows])
        ax.set_xlabel("scratchpad prefix")
        ax.set_ylim(0, 118)
        ax.set_ylabel(_ylabel(str(key["setting"])))
        ax.set_title(_panel_title(key, vary), fontsize=10)
        _tier_legend(ax)
        ax.grid(axis="y", alpha=0.3)
    _title(fig, "Fig. 13: scratchpad steering, non-compliance by tier and prefix (Wilson 95% intervals)")
    _footer(fig, footer)
    return fig


def _fmt_ci(stats: Mapping[str, Any], key: str, digits: int = 2) -> str:
    value = stats.get(key)
    if value is None:
        return "n/a"
    lo, hi = stats.get(f"{key}_lo"), stats.get(f"{key}_hi")
    ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None and hi is not None else ""
    return f"{value:.{digits}f}{ci}"


def stats_text(stats: Mapping[str, Any]) -> str:
    if stats.get("pearson") is None:
        return f"n = {stats.get('n', 0)}; fit n/a: {stats.get('note') or 'no points'}"
    lines = [
        f"n = {stats['n']} variations, 95% CIs: bootstrap over {stats['bootstrap']}",
        f"Pearson r = {_fmt_ci(stats, 'pearson')}",
        f"Spearman ρ = {_fmt_ci(stats, 'spearman')}",
        f"OLS slope = {_fmt_ci(stats, 'ols_slope')}, intercept {stats['ols_intercept']:.1f} pp",
        f"Deming slope = {_fmt_ci(stats, 'deming_slope')}"
        + (
            f"; over transcripts [{stats['deming_slope_lo_t']:.2f}, {stats['deming_slope_hi_t']:.2f}]"
            if stats.get("deming_slope_lo_t") is not None and stats.get("bootstrap") != "transcripts"
            else ""
        ),
    ]
    return "\n".join(lines)


def fig14(
    points: pl.DataFrame, stats: pl.DataFrame, paper_overlay: bool = False, footer: str = "", corrected: str = ""
) -> Figure:
    """AF rate in training vs compliance gap, one point per variation, per setting, with fits."""
    settings = sorted(points["setting"].unique().to_list(), key=setting_key) if points.height else []
    fig, axes = _new(len(settings), width=6.0, height=5.4)
    if not settings:
        _empty(axes[0], "n/a: no runs with prefix=none (Fig. 14 compares prompt variations without steering)")
    by_setting = {r["setting"]: r for r in stats.iter_rows(named=True) if r["points"] != PAPER}
    paper_fit = {r["setting"]: r for r in stats.iter_rows(named=True) if r["points"] == PAPER}
    for ax, setting in zip(axes, settings, strict=False):
        sub = points.filter(pl.col("setting") == setting)
        inc = sub.filter(pl.col("included"))
        excluded = sub.filter(~pl.col("included"))
        x, y = inc["af_pct"].to_numpy(), inc["gap_pp"].to_numpy()
        rows = list(inc.iter_rows(named=True))
        ax.errorbar(
            x,
            y,
            xerr=interval_errors(rows, "af"),
            yerr=interval_errors(rows, "gap_ci", "gap_pp", "gap_se"),
            fmt="o",
            ms=5,
            color="#1f4e79",
            ecolor="#7f9fbf",
            elinewidth=1,
            capsize=2,
            label="afx runs",
        )
        if inc.height <= 40:
            for label, xi, yi in zip(inc["label"].to_list(), x, y, strict=True):
                ax.annotate(label, (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=7)
        lims = _limits(sub, paper_overlay)
        ax.plot(lims, lims, ls="--", color="#888888", lw=1, label="y = x")
        st = by_setting.get(setting) or {}
        grid = np.linspace(lims[0], lims[1], 50)
        if st.get("ols_slope") is not None:
            ax.plot(grid, st["ols_intercept"] + st["ols_slope"] * grid, color="#2a9d8f", lw=1.2, label="OLS")
            ax.plot(grid, st["deming_intercept"] + st["deming_slope"] * grid, color="#e76f51", lw=1.2, label="Deming")
        if paper_overlay and "paper_af" in sub.columns:
            ref = sub.filter(pl.col("paper_af").is_not_null() & pl.col("paper_gap").is_not_null())
            if ref.height:
                ax.errorbar(
                    ref["paper_af"].to_numpy(),
                    ref["paper_gap"].to_numpy(),
                    xerr=ref["paper_af_se"].fill_null(0).to_numpy(),
                    yerr=ref["paper_gap_se"].fill_null(0).to_numpy(),
                    fmt="s",
                    ms=5,
                    mfc="none",
                    color="#777777",
                    elinewidth=0.8,
                    capsize=2,
                    label="paper (Appendix G)",
                )
        ax.set_xlim(lims)
        ax.set_ylim(lims)
        what = "corrected for judge error" if corrected else "mean of partial & full"
        ax.set_xlabel(f"AF reasoning in training (%, {what})")
        ax.set_ylabel("compliance gap (pp, unmonitored − training)")
        ax.set_title(setting_name(setting), fontsize=10)
        text = stats_text(st)
        if paper_overlay and paper_fit.get(setting, {}).get("pearson") is not None:
            pf = paper_fit[setting]
            text += (
                f"\npaper points (n = {pf['n']}): r = {_fmt_ci(pf, 'pearson')}, OLS slope = {_fmt_ci(pf, 'ols_slope')}"
            )
        if excluded.height:
            text += f"\n{excluded.height} variation(s) n/a (see table)"
        ax.text(
            0.02,
            0.98,
            text,
            transform=ax.transAxes,
            va="top",
            fontsize=7.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc", "alpha": 0.9},
        )
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        ax.grid(alpha=0.3)
    title = "Fig. 14: AF reasoning rate vs compliance gap across prompt variations (95% intervals)"
    _title(fig, title + (f"\n{corrected}" if corrected else ""))
    _footer(fig, footer)
    return fig


def _limits(sub: pl.DataFrame, paper: bool) -> tuple[float, float]:
    """One range for both axes (so y = x reads as the diagonal), from the point values, including 0."""
    values = [0.0]
    for col in ("af_pct", "gap_pp", "paper_af", "paper_gap"):
        if col in sub.columns and (paper or not col.startswith("paper")):
            values.extend(v for v in sub[col].to_list() if v is not None and math.isfinite(v))
    lo, hi = min(values), max(values)
    pad = max(3.0, 0.1 * (hi - lo))
    return lo - pad, hi + pad


def baseline(table: pl.DataFrame) -> list[tuple[dict[str, Any], pl.DataFrame]]:
    """Panels for Figs. 15 and 16: prefix none and the default prompt when present, else what there is."""
    out = []
    for setting in sorted(table["setting"].unique().to_list(), key=setting_key) if table.height else []:
        sub = table.filter(pl.col("setting") == setting)
        for column, preferred in (("prefix", "none"), ("variation", "default")):
            pick = sub.filter(pl.col(column) == preferred)
            sub = pick if pick.height else sub
        out.extend(panels(sub, (*PANEL_KEYS, "prefix")))
    return out[:MAX_PANELS]


def fig15(table: pl.DataFrame, conditioning: str, footer: str = "", corrected: str = "") -> Figure:
    """Non-compliance per tier x AF present / absent (±1 SEM, n per cell), gap within AF absent."""
    groups = baseline(table)
    fig, axes = _new(len(groups))
    if not groups:
        _empty(axes[0], "n/a: no runs selected")
    vary = _varying(groups)
    for ax, (key, sub) in zip(axes, groups, strict=False):
        rows, centers = _tier_pair_bars(ax, sub)
        ax.set_xticks(centers, [f"AF reasoning\n{r['af_reasoning']}" for r in rows])
        ax.set_ylim(0, 118)
        ax.set_ylabel(_ylabel(str(key["setting"])))
        absent = next((r for r in rows if r["af_reasoning"] == "absent"), None)
        if absent is not None and absent["gap_pp"] is not None:
            ci = ""
            if absent.get("gap_ci_lo") is not None:
                ci = f" [{absent['gap_ci_lo']:+.1f}, {absent['gap_ci_hi']:+.1f}]"
            gap = f"gap within AF absent: {absent['gap_pp']:+.1f} ± {absent['gap_se']:.1f} pp{ci}"
        else:
            gap = f"gap within AF absent: n/a ({(absent or {}).get('note') or 'no data'})"
        ax.set_title(f"{_panel_title(key, vary)}\n{_wrap(gap, 60)}", fontsize=9)
        _tier_legend(ax)
        ax.grid(axis="y", alpha=0.3)
    title = f"Fig. 15: non-compliance conditioned on goal-directed AF reasoning ({conditioning}; 95% intervals)"
    _title(fig, title + (f"\n{corrected}" if corrected else ""))
    _footer(fig, footer)
    return fig


def _patch(color: str, hatch: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=color, hatch=hatch, edgecolor=HATCH_EDGE if hatch else color, label=label)
