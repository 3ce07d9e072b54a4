"""The summary's files: tables as Markdown/CSV rows (values ± SEM with Wilson 95% intervals), figures in
PNG/SVG/PDF with their instrument stamp in the file metadata, and summary.md."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from . import analysis as an
from .options import Options, Summary

# ------------------------------------------------------------------------------------------- write


def _fmt(value: Any, se: Any = None, digits: int = 1, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    sign = "+" if signed else ""
    text = f"{value:{sign}.{digits}f}"
    return text if se is None else f"{text} ± {se:.{digits}f}"


def _fmt_w(r: Mapping[str, Any], name: str, out: str | None = None) -> str:
    """'12.5 ± 3.3 [6.1, 22.4]': rate ± SEM with its 95% interval (Wilson; corrected: bootstrap)."""
    out = out or name
    text = _fmt(r.get(f"{out}_pct"), r.get(f"{out}_se"))
    lo, hi = r.get(f"{out}_lo"), r.get(f"{out}_hi")
    return text if text == "n/a" or lo is None or hi is None else f"{text} [{lo:.1f}, {hi:.1f}]"


def _ci(lo: Any, hi: Any, digits: int = 1) -> str:
    return "n/a" if lo is None or hi is None else f"[{lo:+.{digits}f}, {hi:+.{digits}f}]"


def _markdown(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "_(no rows)_\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]).replace("|", "\\|").replace("\n", " ") for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _constant(table: pl.DataFrame, keys: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Condition columns that vary (shown) and those that do not (said once above the table)."""
    vary, const = [], {}
    for k in keys:
        values = table[k].unique().to_list() if table.height else []
        if len(values) == 1:
            if values[0] not in (None, ""):  # an empty instrument column (nothing unvalidated / corrected)
                const[k] = str(values[0])
        else:
            vary.append(k)
    return vary, const


def _with_na(text: str, note: str | None) -> str:
    return f"n/a ({note})" if text == "n/a" and note else text


def display_rows(name: str, table: pl.DataFrame) -> tuple[list[dict[str, str]], dict[str, str]]:
    """A table as human-readable rows (values ± SEM, 'n/a (reason)'), plus its constant condition columns."""
    keys = [*an.CONDITION, *INSTRUMENT]
    if name == "fig14_points":
        keys = [k for k in keys if k not in ("prefix", "variation")]
    elif name == "fig14_stats":
        keys = ["setting"]
    vary, const = _constant(table, [k for k in keys if k in table.columns])
    rows = []
    for r in table.iter_rows(named=True):
        note = r.get("note")
        row = {k: "" if r[k] is None else str(r[k]) for k in vary}
        if name == "fig13":
            row |= {
                "training": _with_na(_fmt_w(r, "train"), note),
                "n train": str(r["train_n"]),
                "unmonitored": _with_na(_fmt_w(r, "unmonitored"), note),
                "n unmon.": str(r["unmonitored_n"]),
                "gap (pp)": _with_na(_fmt(r["gap_pp"], r["gap_se"], signed=True), note),
                "gap 95% CI": _ci(r["gap_ci_lo"], r["gap_ci_hi"]),
            }
        elif name == "fig14_points":
            row |= {
                "variation": r["label"],
                "AF in training (%)": _fmt_w(r, "af"),
                "gap (pp)": _fmt(r["gap_pp"], r["gap_se"], signed=True),
                "n train": str(r["train_n"]),
                "n unmon.": str(r["unmonitored_n"]),
                "in fit": "yes" if r["included"] else "no",
            }
            if table["paper_af"].is_not_null().any():
                paper = f"({r['paper_row']}) {_fmt(r['paper_af'])} / {_fmt(r['paper_gap'], signed=True)}"
                row["paper (row): AF / gap"] = paper if r.get("paper_af") is not None else ""
        elif name == "fig14_stats":
            row |= {
                "points": r["points"],
                "n": str(r["n"]),
                "Pearson r": _fmt_fit(r, "pearson"),
                "Spearman ρ": _fmt_fit(r, "spearman"),
                "OLS slope": _fmt_fit(r, "ols_slope"),
                "OLS intercept (pp)": _fmt_fit(r, "ols_intercept", 1),
                "Deming slope": _fmt_fit(r, "deming_slope"),
                "Deming, CI over transcripts": _ci(r["deming_slope_lo_t"], r["deming_slope_hi_t"], 2).replace("+", ""),
                "δ (Deming)": _fmt(r["deming_delta"], digits=2),
                "x reliability": _fmt(r["x_reliability"], digits=2),
            }
        elif name == "fig15":
            row |= {
                "AF reasoning": r["af_reasoning"],
                "training": _fmt_w(r, "train"),
                "n train": str(r["train_n"]),
                "unmonitored": _fmt_w(r, "unmonitored"),
                "n unmon.": str(r["unmonitored_n"]),
                "gap (pp)": _fmt(r["gap_pp"], r["gap_se"], signed=True),
                "gap 95% CI": _ci(r["gap_ci_lo"], r["gap_ci_hi"]),
            }
        elif name == "fig16":
            row |= {
                "tier": r["tier"],
                "n": str(r["n"]),
                "non-compliant (%)": _fmt_w(r, "noncompliant"),
                "compliant (%)": _fmt(r["compliant_pct"]),
                "hatched": r["hatched"],
                "hatched (%)": _fmt_w(r, "hatched"),
            }
        row["note"] = note or ""
        rows.append(row)
    return rows, const


def _fmt_fit(r: Mapping[str, Any], key: str, digits: int = 2) -> str:
    value = r.get(key)
    if value is None:
        return "n/a"
    lo, hi = r.get(f"{key}_lo"), r.get(f"{key}_hi")
    ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None and hi is not None else " [CI n/a]"
    return f"{value:.{digits}f}{ci}"


CAPTIONS = {
    "fig13": (
        "Fig. 13: scratchpad steering",
        "Non-compliance per tier for each steering prefix, ±1 SEM [Wilson 95% interval]; gap = unmonitored − "
        "training, with a 95% CI "
        "from bootstrapping the transcripts.",
    ),
    "fig14_points": (
        "Fig. 14: AF reasoning vs compliance gap (points)",
        "One point per prompt variation without a steering prefix: AF rate in training (mean of the partial and "
        "full classifiers, compliant outputs only) and compliance gap, ±1 SEM [Wilson 95% interval of the AF rate; "
        "when corrected for "
        "judge error, the corrected rate and its bootstrap 95% interval over the run's and the validation's counts].",
    ),
    "fig14_stats": (
        "Fig. 14: fit statistics",
        "Per setting over the included points: Pearson and Spearman r, OLS and Deming slopes (Deming's δ = "
        "ratio of gap to AF measurement-error variance, from the points' SEMs), 95% percentile bootstrap CIs "
        "over the variations (the points resampled; see the header for the mode), and for the Deming slope also "
        "over the transcripts alone (variations fixed: how precisely these samples pin the slope down). "
        "x reliability = share of the AF spread that is not sampling noise (OLS is attenuated by it); Deming "
        "assumes all scatter around the line is sampling noise.",
    ),
    "fig15": (
        "Fig. 15: conditioning on AF reasoning",
        "Non-compliance per tier within transcripts with / without goal-directed AF reasoning (one classifier, "
        "non-compliant AF transcripts included), ±1 SEM [Wilson 95%; corrected cells: bootstrap 95%], n per cell "
        "(observed); the gap within each row with a 95% CI "
        "from bootstrapping the transcripts.",
    ),
    "fig16": (
        "Fig. 16: unmonitored reasoning",
        "Compliant / non-compliant shares per tier; hatched: AF reasoning (training, compliant, mean of partial and "
        "full) and unmonitored reasoning (unmonitored, non-compliant and flagged).",
    ),
}
FIGURE_OF = {"fig13": "fig13", "fig14_points": "fig14", "fig14_stats": None, "fig15": "fig15", "fig16": "fig16"}


_METADATA = {"png": {"Software": "afx summary"}, "svg": {"Date": None}, "pdf": {"Creator": "afx summary"}}
_STAMP_KEY = {"png": "Description", "svg": "Description", "pdf": "Subject"}  # where the instrument stamp goes
INSTRUMENT = ("backend", "unvalidated", "corrected")


def metadata(fmt: str, stamp: str | None) -> dict[str, Any] | None:
    """Figure file metadata: the writer, and the instrument stamp (models, classifiers, validation, correction)."""
    meta = dict(_METADATA.get(fmt) or {})
    if stamp and fmt in _STAMP_KEY:
        meta[_STAMP_KEY[fmt]] = stamp
    return meta or None


def write(summary: Summary, out_dir: Path, options: Options) -> list[Path]:
    """PNG/SVG figures, CSV and Markdown tables, summary.md."""
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays text: smaller, editable
        for name, fig in summary.figures.items():
            for fmt in options.formats:
                path = out_dir / f"{name}.{fmt}"
                fig.savefig(path, dpi=options.dpi, metadata=metadata(fmt, summary.stamps.get(name)))
                fig.set_layout_engine("none")  # keep the layout the first format computed
                files.append(path)
    md = [f"# afx summary: Figures 13–16\n\n{_header_md(summary.header)}\n"]
    if summary.notes:
        md.append("## Notes\n\n" + "\n".join(f"- {n}" for n in summary.notes) + "\n")
    for name, (title, caption) in CAPTIONS.items():
        figure = FIGURE_OF[name]
        if figure and figure not in options.figures:
            continue
        if name == "fig14_stats" and "fig14" not in options.figures:
            continue
        table = summary.tables[name]
        rows, const = display_rows(name, table)
        text = _markdown(rows)
        (out_dir / f"{name}.md").write_text(f"## {title}\n\n{caption}\n\n{_const_md(const)}{text}", encoding="utf-8")
        table.write_csv(out_dir / f"{name}.csv")
        files += [out_dir / f"{name}.md", out_dir / f"{name}.csv"]
        image = f"![{title}]({figure}.png)\n\n" if figure and figure in summary.figures else ""
        md.append(f"## {title}\n\n{image}{caption}\n\n{_const_md(const)}{text}")
    summary.tables["runs"].drop([c for c in summary.tables["runs"].columns if c.startswith("b_")]).write_csv(
        out_dir / "runs.csv"
    )
    files.append(out_dir / "runs.csv")
    (out_dir / "summary.md").write_text("\n".join(md), encoding="utf-8")
    files.append(out_dir / "summary.md")
    summary.files = files
    summary.seconds["write"] = time.perf_counter() - t0
    return files


def _instrument_md(head: Mapping[str, Any]) -> list[str]:
    stamps = head.get("stamps") or {}
    lines = [f"- Instrument, {name}: {stamp}" for name, stamp in stamps.items()]
    if head.get("corrected"):
        lines.append(f"- AF numbers of Figs. 14 and 15 {head['corrected']} (docs/summary.md: judge-error correction)")
    return lines


def _const_md(const: Mapping[str, str]) -> str:
    return ("All rows: " + ", ".join(f"{k} = `{v}`" for k, v in const.items()) + ".\n\n") if const else ""


def _header_md(head: Mapping[str, Any]) -> str:
    lines = []
    if head.get("selection"):
        lines.append(f"- Runs: {head['selection']} ({head.get('runs', 0)} conditions)")
    lines.append(
        f"- Statistics recomputed from {head.get('transcripts', 0)} transcripts for "
        f"{head.get('from_transcripts', 0)} of {head.get('runs', 0)} runs (the rest from logged metrics)"
    )
    check = head.get("consistency") or {}
    if check.get("values_compared"):
        lines.append(
            f"- Check against the jobs' logged metrics: largest difference {check['max_abs_diff_pp']:.2g} pp over "
            f"{check['values_compared']} values"
        )
    lines.append(
        f"- Fig. 15 conditions on `{head.get('conditioning')}`; Fig. 14 CIs: bootstrap over "
        f"{head.get('bootstrap', 'variations')} ({head.get('n_boot', '?')} replicates)"
    )
    lines.extend(_instrument_md(head))
    if head.get("tracking_uri"):
        lines.append(f"- MLflow: `mlflow ui --backend-store-uri {head['tracking_uri']}`")
    return "\n".join(lines)
