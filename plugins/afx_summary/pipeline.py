"""One implementation behind both entry points (the Hydra callback and `afx summary`):
select runs -> load (load.py) -> statistics (analysis.py) -> figures (plots.py) -> files -> MLflow.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from afx.errors import AfxError

from . import analysis as an

log = logging.getLogger(__name__)
FIGURES = ("fig13", "fig14", "fig15", "fig16")
FORMATS = ("png", "svg")


@dataclass
class Options:
    """What to compute and draw (the callback's and the command's knobs)."""

    conditioning: str = "af_partial"  # AF label Fig. 15 conditions on
    paper_overlay: bool = False  # Fig. 14: also draw the variation files' paper reference points
    bootstrap: str = "variations"  # Fig. 14 CIs: variations | hierarchical | transcripts (analysis.py)
    n_boot: int = 2000
    seed: int = 0
    ci: float = 0.95
    figures: Sequence[str] = FIGURES
    formats: Sequence[str] = FORMATS
    transcripts: bool = True  # False: logged aggregates only (no bootstrap over transcripts)
    workers: int = 8  # parallel downloads from remote artifact stores
    dpi: int = 150

    def __post_init__(self) -> None:
        if self.conditioning not in an.AF_LABELS:
            raise AfxError(f"conditioning must be one of {', '.join(an.AF_LABELS)} (got '{self.conditioning}')")
        if self.bootstrap not in an.BOOTSTRAPS:
            raise AfxError(f"bootstrap must be one of {', '.join(an.BOOTSTRAPS)} (got '{self.bootstrap}')")
        unknown = set(self.figures) - set(FIGURES)
        if unknown:
            raise AfxError(f"unknown figure(s) {', '.join(sorted(unknown))} (choose from {', '.join(FIGURES)})")
        bad = set(self.formats) - {"png", "svg", "pdf"}
        if bad:
            raise AfxError(f"unknown figure format(s) {', '.join(sorted(bad))} (png, svg, pdf)")


@dataclass
class Summary:
    """Everything the summary produced, in memory."""

    tables: dict[str, pl.DataFrame]
    figures: dict[str, Any]
    notes: list[str]
    metrics: dict[str, float]
    header: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    run_id: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- build


def build(
    runs: pl.DataFrame,
    metric_runs: Sequence[Mapping[str, Any]],
    transcripts: pl.DataFrame | None,
    options: Options,
    *,
    skipped: Sequence[tuple[str, str]] = (),
    no_transcripts: Mapping[str, str] | None = None,
    header: Mapping[str, Any] | None = None,
    draw: bool = True,
) -> Summary:
    """All tables (and figures) from loaded runs: pure, no MLflow."""
    t0 = time.perf_counter()
    notes = [f"left out: {why}" for _, why in skipped]
    stats = an.run_stats(
        transcripts, metric_runs, options.conditioning, n_boot=options.n_boot, seed=options.seed, ci=options.ci
    )
    from_metrics = stats.filter(pl.col("source") == "metrics")["run_id"].to_list()
    reasons = dict(no_transcripts or {})
    for run_id in from_metrics:
        why = reasons.get(run_id) or ("transcripts not read (--no-transcripts)" if not options.transcripts else "")
        notes.append(f"run {run_id}: statistics from logged metrics only ({why or 'no transcripts'})")
    cond, dropped = an.conditions(runs, stats)
    for row in dropped.iter_rows(named=True):
        notes.append(
            f"run {row['run_id']} ({row['run_name']}) left out: a later run has the same condition "
            + ", ".join(f"{k}={row[k]}" for k in an.CONDITION)
        )
    tables: dict[str, pl.DataFrame] = {"runs": cond}
    tables["fig13"] = an.fig13_table(cond)
    points = an.fig14_points(cond)
    tables["fig14_points"] = points
    kw = {"bootstrap": options.bootstrap, "n_boot": options.n_boot, "seed": options.seed, "ci": options.ci}
    fits = an.fig14_stats(points, **kw)
    if options.paper_overlay and points.height:
        fits = pl.concat([fits, an.fig14_stats(points, **(kw | {"bootstrap": "variations"}), paper=True)])
    tables["fig14_stats"] = fits
    tables["fig15"] = an.fig15_table(cond, options.conditioning)
    tables["fig16"] = an.fig16_table(cond)
    check = an.consistency(stats, metric_runs)
    head = {
        **(header or {}),
        "runs": cond.height,
        "from_transcripts": int((cond["source"] == "transcripts").sum()) if cond.height else 0,
        "transcripts": int(transcripts.height) if transcripts is not None else 0,
        "conditioning": options.conditioning,
        "consistency": check,
    }
    seconds = {"analysis": time.perf_counter() - t0}
    figures: dict[str, Any] = {}
    if draw:
        t1 = time.perf_counter()
        figures = draw_figures(tables, options, _footer(head))
        seconds["figures"] = time.perf_counter() - t1
    return Summary(tables, figures, notes, headline_metrics(tables), head, seconds=seconds)


def _footer(head: Mapping[str, Any]) -> str:
    bits = [f"{head.get('runs', 0)} runs"]
    if head.get("selection"):
        bits.append(str(head["selection"]))
    bits.append(f"afx summary, {time.strftime('%Y-%m-%d %H:%M')}")
    return " | ".join(bits)


def draw_figures(tables: Mapping[str, pl.DataFrame], options: Options, footer: str) -> dict[str, Any]:
    from . import plots

    figures: dict[str, Any] = {}
    if "fig13" in options.figures:
        figures["fig13"] = plots.fig13(tables["fig13"], footer)
    if "fig14" in options.figures:
        figures["fig14"] = plots.fig14(tables["fig14_points"], tables["fig14_stats"], options.paper_overlay, footer)
    if "fig15" in options.figures:
        figures["fig15"] = plots.fig15(tables["fig15"], options.conditioning, footer)
    if "fig16" in options.figures:
        figures["fig16"] = plots.fig16(tables["fig16"], footer)
    return figures


def headline_metrics(tables: Mapping[str, pl.DataFrame]) -> dict[str, float]:
    """Numbers worth a column in the MLflow UI's run table (logged on the summary / parent run)."""
    out: dict[str, float] = {}
    fits = tables["fig14_stats"]
    for r in fits.iter_rows(named=True):
        tag = "fig14" if r["points"] != "paper reference numbers" else "fig14_paper"
        out[f"{tag}/{r['setting']}/n"] = r["n"]
        for key, name in (("pearson", "pearson_r"), ("spearman", "spearman_r"), ("ols_slope", "ols_slope")):
            _put(out, f"{tag}/{r['setting']}/{name}", r, key)
        _put(out, f"{tag}/{r['setting']}/deming_slope", r, "deming_slope")
    base = _baseline_rows(tables["fig15"])
    for r in base.filter(pl.col("af_reasoning") == "absent").iter_rows(named=True):
        if r["gap_pp"] is not None:
            out[f"fig15/{r['setting']}/no_af_gap_pp"] = r["gap_pp"]
            out[f"fig15/{r['setting']}/no_af_gap_se"] = r["gap_se"]
    for r in _baseline_rows(tables["fig16"], prefix=False).iter_rows(named=True):
        if r["prefix"] != "none" or r["hatched_pct"] is None:
            continue
        name = "af_pct" if r["tier"] == "train" else "unmonitored_reasoning_pct"
        out[f"fig16/{r['setting']}/{name}"] = r["hatched_pct"]
    for r in _baseline_rows(tables["fig13"], prefix=False).iter_rows(named=True):
        if r["gap_pp"] is not None:
            out[f"fig13/{r['setting']}/{r['prefix']}/gap_pp"] = r["gap_pp"]
    return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(float(v))}


def _put(out: dict[str, float], name: str, row: Mapping[str, Any], key: str) -> None:
    if row.get(key) is not None:
        out[name] = row[key]
        if row.get(f"{key}_lo") is not None:
            out[f"{name}_lo"], out[f"{name}_hi"] = row[f"{key}_lo"], row[f"{key}_hi"]


def _baseline_rows(table: pl.DataFrame, prefix: bool = True) -> pl.DataFrame:
    """Rows of the default prompt (and prefix none), only when one model/classifier per setting."""
    if not table.height:
        return table
    sub = table.filter(pl.col("variation") == "default")
    if prefix:
        sub = sub.filter(pl.col("prefix") == "none")
    counts = sub.group_by("setting").agg(pl.struct("model", "classifier", "prefix_mode").n_unique().alias("k"))
    ok = counts.filter(pl.col("k") == 1)["setting"].to_list()
    return sub.filter(pl.col("setting").is_in(ok))


# ------------------------------------------------------------------------------------------- write


def _fmt(value: Any, se: Any = None, digits: int = 1, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    sign = "+" if signed else ""
    text = f"{value:{sign}.{digits}f}"
    return text if se is None else f"{text} ± {se:.{digits}f}"


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
            const[k] = str(values[0])
        else:
            vary.append(k)
    return vary, const


def _with_na(text: str, note: str | None) -> str:
    return f"n/a ({note})" if text == "n/a" and note else text


def display_rows(name: str, table: pl.DataFrame) -> tuple[list[dict[str, str]], dict[str, str]]:
    """A table as human-readable rows (values ± SEM, 'n/a (reason)'), plus its constant condition columns."""
    keys = list(an.CONDITION)
    if name == "fig14_points":
        keys = [k for k in an.CONDITION if k not in ("prefix", "variation")]
    elif name == "fig14_stats":
        keys = ["setting"]
    vary, const = _constant(table, keys)
    rows = []
    for r in table.iter_rows(named=True):
        note = r.get("note")
        row = {k: str(r[k]) for k in vary}
        if name == "fig13":
            row |= {
                "training": _with_na(_fmt(r["train_pct"], r["train_se"]), note),
                "n train": str(r["train_n"]),
                "unmonitored": _with_na(_fmt(r["unmonitored_pct"], r["unmonitored_se"]), note),
                "n unmon.": str(r["unmonitored_n"]),
                "gap (pp)": _with_na(_fmt(r["gap_pp"], r["gap_se"], signed=True), note),
                "gap 95% CI": _ci(r["gap_ci_lo"], r["gap_ci_hi"]),
            }
        elif name == "fig14_points":
            row |= {
                "variation": r["label"],
                "AF in training (%)": _fmt(r["af_pct"], r["af_se"]),
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
                "training": _fmt(r["train_pct"], r["train_se"]),
                "n train": str(r["train_n"]),
                "unmonitored": _fmt(r["unmonitored_pct"], r["unmonitored_se"]),
                "n unmon.": str(r["unmonitored_n"]),
                "gap (pp)": _fmt(r["gap_pp"], r["gap_se"], signed=True),
                "gap 95% CI": _ci(r["gap_ci_lo"], r["gap_ci_hi"]),
            }
        elif name == "fig16":
            row |= {
                "tier": r["tier"],
                "n": str(r["n"]),
                "non-compliant (%)": _fmt(r["noncompliant_pct"], r["noncompliant_se"]),
                "compliant (%)": _fmt(r["compliant_pct"]),
                "hatched": r["hatched"],
                "hatched (%)": _fmt(r["hatched_pct"], r["hatched_se"]),
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
        "Non-compliance per tier for each steering prefix, ±1 SEM; gap = unmonitored − training, with a 95% CI "
        "from bootstrapping the transcripts.",
    ),
    "fig14_points": (
        "Fig. 14: AF reasoning vs compliance gap (points)",
        "One point per prompt variation without a steering prefix: AF rate in training (mean of the partial and "
        "full classifiers, compliant outputs only) and compliance gap, ±1 SEM.",
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
        "non-compliant AF transcripts included), ±1 SEM, n per cell; the gap within each row with a 95% CI "
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
                fig.savefig(path, dpi=options.dpi, metadata=_METADATA.get(fmt))
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
    if head.get("tracking_uri"):
        lines.append(f"- MLflow: `mlflow ui --backend-store-uri {head['tracking_uri']}`")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- run


@dataclass
class Target:
    """Where the summary is logged: an existing run (a sweep's parent) or a new summary run."""

    run_id: str | None = None  # an existing run to log into (a sweep's parent run)
    use_common_parent: bool = False  # no run_id: log into the parent all selected runs share, if any
    name: str = "summary"
    created: bool = False  # set by summarize: a new summary run was made and the sources linked to it


def summarize(selection: Any, out_dir: Path, options: Options, target: Target | None = None) -> Summary:
    """Load the selected runs, build and write the summary, log it to MLflow (unless target is None)."""
    import threading

    from . import load

    t0 = time.perf_counter()
    client = load.client_for(selection.uri)
    loaded = load.load_runs(client, selection)
    if not loaded.runs.height:
        skipped = "; ".join(why for _, why in loaded.skipped)
        extra = f" (not finished: {skipped})" if skipped else ""
        raise AfxError(f"no finished afx job runs match {selection.describe()} at {selection.uri}{extra}")
    t_runs = time.perf_counter() - t0
    sources = loaded.runs["run_id"].to_list()
    run_id, linker = None, None
    if target is not None:
        run_id = target.run_id
        parents = set(loaded.runs["parent_run_id"].to_list())
        if run_id is None and target.use_common_parent and len(parents) == 1 and None not in parents:
            common = parents.pop()
            run_id = common if load.run_exists(client, common) else None
        if run_id is None:
            run_id = load.create_summary_run(client, loaded.experiment_ids[0], selection, sources, target.name)
            target.created = True
            # tagging every source run is one database write each: do it while the summary is computed
            linker = threading.Thread(target=load.link_sources, args=(client, run_id, sources), daemon=True)
            linker.start()
    transcripts, missing = None, {}
    if options.transcripts:
        transcripts, missing = load.load_transcripts(client, loaded.runs, options.workers)
    t_load = time.perf_counter() - t0
    header = {
        "selection": selection.describe(),
        "tracking_uri": selection.uri,
        "bootstrap": options.bootstrap,
        "n_boot": options.n_boot,
    }
    summary = build(
        loaded.runs,
        loaded.metric_runs,
        transcripts,
        options,
        skipped=loaded.skipped,
        no_transcripts=missing,
        header=header,
    )
    if target is not None and target.created:
        pl.DataFrame({"run_id": sources}).write_csv(_mkdir(out_dir) / "sources.csv")
    write(summary, out_dir, options)
    summary.seconds.update(load_runs=t_runs, load_transcripts=t_load - t_runs)
    if target is not None and run_id is not None:
        t1 = time.perf_counter()
        if linker is not None:
            linker.join()
        tags = {
            "afx.summary.status": "ok",
            "afx.summary.conditioning": options.conditioning,
            "afx.summary.dir": str(out_dir.resolve()),
            "afx.summary.runs": str(summary.tables["runs"].height),
        }
        metrics = {**summary.metrics, "summary/n_runs": float(summary.tables["runs"].height)}
        load.log_summary(client, run_id, out_dir, metrics, tags)
        if target.created:
            load.set_status(client, run_id, "FINISHED")
        summary.run_id = run_id
        summary.seconds["mlflow"] = time.perf_counter() - t1
    summary.seconds["total"] = time.perf_counter() - t0
    return summary


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
