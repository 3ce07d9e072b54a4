"""`python -m afx` and the `afx` console script: the same Hydra app."""

from __future__ import annotations

import importlib
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from afx import parent_watch
from afx.errors import AfxError, one_line
from afx.paths import conf_dir
from afx.run_dirs import ENV as RUN_STAMP_ENV


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def _app(cfg: DictConfig) -> float | None:
    from afx.backends import release_backends
    from afx.job import run_job
    from afx.variations import InapplicableVariation

    parent_watch.watch_launcher()  # a job process of a launcher dies with it (afx/parent_watch.py)
    try:
        run_job(cfg)
    except InapplicableVariation as exc:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            print(f"afx: error: {one_line(str(exc))}", file=sys.stderr)
            raise SystemExit(2) from None
        print(f"afx: skipped this job: {one_line(str(exc))}", flush=True)
    except AfxError as exc:
        print(f"afx: error: {one_line(str(exc))}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        release_backends()  # at every job's end, also on errors and Ctrl-C: no request process outlives its job
    return None


# `afx <name> ...` runs a tool instead of the sweep app: name -> "module:function(argv) -> int".
SUBCOMMANDS: dict[str, str] = {
    "validate-classifier": "afx.classify.validate:main",
    "fit-probe": "afx.classify.probe_fit:main",
    "view": "afx.viewer:main",
    "cache-merge": "afx.cache_tools:main",
    "summary": "afx_summary.cli:main",
    "variations": "afx.variations_cli:main",
    "paraphrase": "afx.paraphrase:main",
    "plan": "afx.plan:main",
}


def _subcommand(argv: list[str]) -> None:
    target = SUBCOMMANDS[argv[0]]
    module, _, func = target.partition(":")
    try:
        code = getattr(importlib.import_module(module), func)(argv[1:])
    except AfxError as exc:
        print(f"afx {argv[0]}: error: {one_line(str(exc))}", file=sys.stderr)
        code = 2
    raise SystemExit(code or 0)


def main() -> None:
    """Validate the command line (one clear line on bad input), then hand over to Hydra."""
    from afx.preflight import validate

    if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
        _subcommand(sys.argv[1:])

    # This process is a launcher: its output folder is its own, never one inherited from the process that
    # started it (a test, a script, another afx); its own workers inherit the stamp it sets (afx/run_dirs.py).
    os.environ.pop(RUN_STAMP_ENV, None)
    parent_watch.mark_launcher()  # its job processes (joblib, submitit_local) exit when it dies

    if os.environ.get("AFX_SKIP_PREFLIGHT") != "1":
        try:
            validate(sys.argv[1:])
        except AfxError as exc:
            if os.environ.get("AFX_DEBUG") == "1":
                raise
            print(f"afx: error: {one_line(str(exc))}", file=sys.stderr)
            raise SystemExit(2) from None
    try:
        _app()
    except KeyboardInterrupt:
        print(
            "afx: interrupted. Every finished sample is kept (transcripts.jsonl and the response cache); "
            "rerun the same command to resume.",
            file=sys.stderr,
        )
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
