"""One implementation behind both entry points (the Hydra callback and `afx summary`):
select runs -> load (load.py) -> statistics (analysis.py) -> figures (plots.py) -> files -> MLflow.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from afx.errors import AfxError

from . import analysis as an
from .options import FIGURES, FORMATS, Options, Summary
from .report import display_rows, write
from .stamps import instrument_stamp

__all__ = ["FIGURES", "FORMATS", "Options", "Summary", "Target", "build", "display_rows", "summarize", "write"]
log = logging.getLogger(__name__)
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
    corr = options.correction
    if corr is not None:
        from .corrected import correct_cond, correct_fig14

        notes += [f"judge-error correction refused for {why}" for why in corr.refusals()]
        points = correct_fig14(points, corr, options.n_boot, options.seed, options.ci)
    tables["fig14_points"] = points
    kw = {"bootstrap": options.bootstrap, "n_boot": options.n_boot, "seed": options.seed, "ci": options.ci}
    fits = an.fig14_stats(points, **kw)
    if options.paper_overlay and points.height:
        fits = pl.concat([fits, an.fig14_stats(points, **(kw | {"bootstrap": "variations"}), paper=True)])
    tables["fig14_stats"] = fits
    tables["fig15"] = an.fig15_table(cond, options.conditioning)
    if corr is not None:
        fixed, more = correct_cond(cond, corr, options.conditioning, options.n_boot, options.seed, options.ci)
        notes += more
        observed = tables["fig15"]
        tables["fig15"] = an.fig15_table(fixed, options.conditioning).with_columns(
            corrected=pl.lit(corr.stamp([options.conditioning])),
            train_obs_pct=observed["train_pct"],
            unmonitored_obs_pct=observed["unmonitored_pct"],
        )
    tables["fig16"] = an.fig16_table(cond)
    check = an.consistency(stats, metric_runs)
    head = {
        **(header or {}),
        "runs": cond.height,
        "from_transcripts": int((cond["source"] == "transcripts").sum()) if cond.height else 0,
        "transcripts": int(transcripts.height) if transcripts is not None else 0,
        "conditioning": options.conditioning,
        "consistency": check,
        "corrected": corr.stamp() if corr is not None else None,
    }
    seconds = {"analysis": time.perf_counter() - t0}
    stamps = {name: instrument_stamp(tables[TABLE_OF[name]]) for name in FIGURES}
    head["stamps"] = {name: stamps[name] for name in options.figures}
    figures: dict[str, Any] = {}
    if draw:
        t1 = time.perf_counter()
        footer = _footer(head)
        figures = draw_figures(tables, options, {name: f"{footer}\n{stamp}" for name, stamp in stamps.items()})
        seconds["figures"] = time.perf_counter() - t1
    return Summary(tables, figures, notes, headline_metrics(tables), head, seconds=seconds, stamps=stamps)


TABLE_OF = {"fig13": "fig13", "fig14": "fig14_points", "fig15": "fig15", "fig16": "fig16"}


def _footer(head: Mapping[str, Any]) -> str:
    bits = [f"{head.get('runs', 0)} runs"]
    if head.get("selection"):
        bits.append(str(head["selection"]))
    bits.append(f"afx summary, {time.strftime('%Y-%m-%d %H:%M')}")
    return " | ".join(bits)


def draw_figures(tables: Mapping[str, pl.DataFrame], options: Options, footers: Mapping[str, str]) -> dict[str, Any]:
    """Each figure with its footer (provenance line, then the instrument stamp)."""
    from . import plots

    corr = options.correction
    figures: dict[str, Any] = {}
    if "fig13" in options.figures:
        figures["fig13"] = plots.fig13(tables["fig13"], footers["fig13"])
    if "fig14" in options.figures:
        figures["fig14"] = plots.fig14(
            tables["fig14_points"],
            tables["fig14_stats"],
            options.paper_overlay,
            footers["fig14"],
            corr.stamp() if corr is not None else "",
        )
    if "fig15" in options.figures:
        stamp = corr.stamp([options.conditioning]) if corr is not None else ""
        figures["fig15"] = plots.fig15(tables["fig15"], options.conditioning, footers["fig15"], stamp)
    if "fig16" in options.figures:
        from .plot_fig16 import fig16

        figures["fig16"] = fig16(tables["fig16"], footers["fig16"])
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
