"""Hydra callback: when a multirun ends, Figures 13-16 of its jobs go to <sweep dir>/summary/ and to the
sweep's parent MLflow run. Thin glue over `pipeline.summarize` (the same code as `afx summary`).

Hydra turns an exception raised in a callback into a warning and still exits 0, so this callback never
raises: it prints a banner on stderr, writes the traceback to <sweep dir>/summary_error.txt and tags the
parent run `afx.summary.status=failed`. If the multirun dies before it ends (a job raised), the summary
still runs at interpreter exit over the jobs that finished, and says so. After Ctrl-C it does not run (the
"interrupted" line stays the last word; `afx summary --sweep DIR` summarises the finished jobs).
Heavy imports (polars, matplotlib, mlflow) happen only when a multirun ends, not when Hydra instantiates
the callback for every run.
"""

from __future__ import annotations

import atexit
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
ERROR_FILE = "summary_error.txt"


class SummaryCallback(Callback):
    """Runs the summary plugin at the end of every multirun (registered in conf/hydra/afx.yaml)."""

    def __init__(
        self,
        enabled: bool = True,
        conditioning: str | None = None,
        paper_overlay: bool = False,
        bootstrap: str = "variations",
        n_boot: int = 2000,
        seed: int = 0,
        figures: Sequence[str] | None = None,
        formats: Sequence[str] | None = None,
        transcripts: bool = True,
        out_subdir: str = "summary",
        correct_with: str | None = None,
        correct_prior: float = 0.5,
    ) -> None:
        self.enabled = enabled
        self.settings = {
            "conditioning": conditioning,
            "paper_overlay": paper_overlay,
            "bootstrap": bootstrap,
            "n_boot": n_boot,
            "seed": seed,
            "figures": list(figures) if figures is not None else None,
            "formats": list(formats) if formats is not None else None,
            "transcripts": transcripts,
            "correct_with": correct_with,
            "correct_prior": correct_prior,
        }
        self.out_subdir = out_subdir
        self._config: DictConfig | None = None
        self._ended = False

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.enabled:
            from afx.callbacks import watch_interrupts

            self._config, self._ended = config, False
            watch_interrupts()
            atexit.register(self._at_exit)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._ended = True
        atexit.unregister(self._at_exit)
        if self.enabled:
            self.run(config)

    def _at_exit(self) -> None:
        from afx.callbacks import INTERRUPTED

        if not self._ended and self._config is not None:
            self._ended = True
            if INTERRUPTED.is_set():
                log.info("multirun interrupted: no summary (run afx summary --sweep DIR for the finished jobs)")
                return
            if not any(Path(str(self._config.hydra.sweep.dir)).glob("*/metrics.json")):  # a job's last write
                print("\nafx summary: the multirun stopped before any job finished: nothing to summarise", flush=True)
                return
            print("\nafx summary: the multirun stopped before its end; summarising the jobs that finished", flush=True)
            self.run(self._config, incomplete=True)

    def run(self, config: DictConfig, incomplete: bool = False) -> Any:
        """Summarise the sweep; returns the Summary, or None after reporting a failure (never raises)."""
        started = time.perf_counter()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        previous = HydraConfig.instance().cfg
        try:
            from afx import tracking
            from afx_summary.load import Selection
            from afx_summary.pipeline import Options, Target, summarize

            HydraConfig.instance().set_config(config)  # so ${hydra:...} interpolations resolve here
            root = Path(str(config.hydra.runtime.cwd))
            uri = tracking.tracking_uri(root, OmegaConf.select(config, "tracking.uri"))
            experiment = str(OmegaConf.select(config, "tracking.experiment", default="afx"))
            parent = tracking.read_parent_run_id(sweep_dir)
            opts = {k: v for k, v in self.settings.items() if v is not None}
            opts.setdefault(
                "conditioning",
                str(OmegaConf.select(config, "classifier.conditioning_classifier", default="af_partial")),
            )
            if opts.get("correct_with") and not Path(str(opts["correct_with"])).is_absolute():
                opts["correct_with"] = str(root / str(opts["correct_with"]))  # relative to where afx was started
            options = Options(**opts)
            selection = Selection(uri, experiment, sweep_id=sweep_dir.name, parent_run_id=parent)
            out_dir = sweep_dir / self.out_subdir
            target = Target(run_id=parent, use_common_parent=True, name=f"summary {sweep_dir.name}")
            summary = summarize(selection, out_dir, options, target)
            if incomplete:
                with (out_dir / "summary.md").open("a", encoding="utf-8") as fh:
                    fh.write(
                        "\n**The multirun stopped before its end: this summary covers only the jobs that finished.**\n"
                    )
            (sweep_dir / ERROR_FILE).unlink(missing_ok=True)
            where = "the sweep's parent run" if summary.run_id == parent else "a new summary run"
            print(
                f"afx summary: Figures 13-16 for {summary.header['runs']} runs in {out_dir / 'summary.md'}; "
                f"logged to {where} {summary.run_id} ({time.perf_counter() - started:.1f}s)",
                flush=True,
            )
            return summary
        except BaseException as exc:  # noqa: BLE001 - Hydra would swallow it; report loudly instead
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._report(config, sweep_dir, exc)
            return None
        finally:
            HydraConfig.instance().cfg = previous

    @staticmethod
    def _report(config: DictConfig, sweep_dir: Path, exc: BaseException) -> None:
        from afx.errors import AfxError, one_line

        text = traceback.format_exc()
        path = sweep_dir / ERROR_FILE
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(f"afx summary failed for {sweep_dir}\n\n{text}", encoding="utf-8")
        except OSError:
            path = Path("<not written>")
        message = one_line(str(exc)) if isinstance(exc, AfxError) else f"{type(exc).__name__}: {one_line(str(exc))}"
        bar = "!" * 78
        print(
            f"\n{bar}\nafx summary: FAILED: {message}\n"
            f"afx summary: the sweep's jobs are fine; traceback in {path}\n"
            f"afx summary: rerun it with:  afx summary --sweep {sweep_dir}\n{bar}",
            file=sys.stderr,
            flush=True,
        )
        log.error("summary failed for %s:\n%s", sweep_dir, text)
        try:
            from afx import tracking
            from afx_summary import load

            parent = tracking.read_parent_run_id(sweep_dir)
            if parent:
                uri = tracking.tracking_uri(
                    Path(str(config.hydra.runtime.cwd)), OmegaConf.select(config, "tracking.uri")
                )
                client = load.client_for(uri)
                load.set_tags(client, parent, {"afx.summary.status": "failed", "afx.summary.error": message[:500]})
                if path.is_file():
                    client.log_artifact(parent, str(path), "summary")
        except Exception:  # noqa: BLE001 - best effort; the file and the banner already say it
            log.debug("could not tag the parent run", exc_info=True)
