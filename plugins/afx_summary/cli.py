"""`afx summary`: Figures 13-16 over any existing runs, by experiment, sweep or MLflow filter string.

    afx summary                                   # every afx job run in experiment 'afx'
    afx summary --sweep outputs/multirun/2026-11-25_16-05-49   # one sweep (dir or id), logged to its parent run
    afx summary --filter "tags.model = 'persona-simulator' and tags.setting = 'helpful_only'"
    afx summary --sweep outputs/multirun/... --correct-with validation.json   # AF corrected for judge error

Same code as the Hydra callback (pipeline.summarize). A summary over runs that are not exactly one sweep
goes to a new MLflow run (tag afx.kind=summary) and each source run is tagged afx.summary_run_id.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from afx.errors import AfxError

from .pipeline import FIGURES, Options, Target, summarize


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="afx summary",
        description="Figures 13-16 (steering, AF vs gap, conditioning, unmonitored reasoning) from afx runs in MLflow.",
    )
    sel = p.add_argument_group("which runs (combined with AND)")
    sel.add_argument("--experiment", default="afx", help="MLflow experiment name (default: afx)")
    sel.add_argument("--all-experiments", action="store_true", help="search every experiment")
    sel.add_argument("--sweep", help="a sweep directory (outputs/multirun/<time>) or its id (the directory name)")
    sel.add_argument("--parent", help="the MLflow parent run id of a sweep")
    sel.add_argument("--filter", dest="filter_string", help="an MLflow filter string, e.g. \"tags.setting = 'x'\"")
    sel.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else sqlite:///./mlruns/mlflow.db")
    out = p.add_argument_group("output")
    out.add_argument(
        "--out", type=Path, help="output directory (default: <sweep dir>/summary or outputs/summary/<time>)"
    )
    out.add_argument("--no-log", action="store_true", help="write files only; log nothing to MLflow")
    out.add_argument("--new-run", action="store_true", help="log to a new summary run even for a single sweep")
    out.add_argument("--figures", default=",".join(FIGURES), help="comma-separated subset of " + ",".join(FIGURES))
    out.add_argument("--formats", default="png,svg", help="figure formats (png, svg, pdf)")
    st = p.add_argument_group("statistics")
    st.add_argument(
        "--conditioning",
        default="af_partial",
        choices=["af_partial", "af_full"],
        help="AF label that Fig. 15 conditions on (default: af_partial)",
    )
    st.add_argument(
        "--paper-overlay",
        action="store_true",
        help="Fig. 14: overlay the paper's numbers from the variation files' paper: blocks",
    )
    st.add_argument(
        "--bootstrap",
        default="variations",
        choices=["variations", "hierarchical", "transcripts"],
        help="Fig. 14 CIs: resample variations (default), also transcripts within them, or transcripts only",
    )
    st.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates (default 2000)")
    st.add_argument(
        "--correct-with",
        metavar="REPORT",
        help="validation report (JSON of `afx validate-classifier out=`): correct the AF rates of Fig. 14 and the "
        "cells of Fig. 15 for the classifier's sensitivity and specificity (labels.<af label>.confusion)",
    )
    st.add_argument(
        "--correct-prior",
        type=float,
        default=0.5,
        help="Beta prior of the correction's bootstrap over the counts (default 0.5, Jeffreys)",
    )
    st.add_argument("--seed", type=int, default=0)
    st.add_argument(
        "--no-transcripts",
        action="store_true",
        help="use the logged aggregates only (no recomputation or bootstrap over transcripts)",
    )
    return p


def main(argv: list[str]) -> int:
    from afx import tracking

    from .load import Selection

    args = _parser().parse_args(argv)
    uri = args.tracking_uri or tracking.tracking_uri(Path.cwd())
    sweep_id, parent, out = None, args.parent, args.out
    if args.sweep:
        path = Path(args.sweep)
        if path.is_dir():
            sweep_id = path.resolve().name
            parent = parent or tracking.read_parent_run_id(path)
            out = out or path / "summary"
        elif "/" in args.sweep or "\\" in args.sweep:
            raise AfxError(f"--sweep {args.sweep}: no such directory (give a sweep directory or a sweep id)")
        else:
            sweep_id = args.sweep
    out = out or Path("outputs") / "summary" / time.strftime("%Y-%m-%d_%H-%M-%S")
    options = Options(
        conditioning=args.conditioning,
        paper_overlay=args.paper_overlay,
        bootstrap=args.bootstrap,
        n_boot=args.n_boot,
        seed=args.seed,
        figures=[f.strip() for f in args.figures.split(",") if f.strip()],
        formats=[f.strip() for f in args.formats.split(",") if f.strip()],
        transcripts=not args.no_transcripts,
        correct_with=args.correct_with,
        correct_prior=args.correct_prior,
    )
    selection = Selection(
        uri,
        None if args.all_experiments else args.experiment,
        sweep_id=sweep_id,
        parent_run_id=parent,
        filter_string=args.filter_string,
    )
    one_sweep = bool(sweep_id or parent) and not args.filter_string and not args.new_run
    target = None if args.no_log else Target(run_id=parent if one_sweep else None, use_common_parent=one_sweep)
    summary = summarize(selection, out, options, target)
    print(f"afx summary: {summary.header['runs']} runs ({selection.describe()})")
    for note in summary.notes:
        print(f"afx summary: note: {note}")
    print(f"afx summary: wrote {len(summary.files)} files; read {out / 'summary.md'}")
    if summary.run_id:
        how = "new summary run (sources tagged afx.summary_run_id)" if target and target.created else "run"
        print(f"afx summary: logged to MLflow {how} {summary.run_id}")
        print(f"afx summary: open the UI with:  {tracking.ui_command(uri)}")
    return 0
