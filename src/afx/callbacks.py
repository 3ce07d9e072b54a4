"""Hydra callback that groups a multirun's jobs under one MLflow parent run.

A multirun that stops before its end (Ctrl-C, or a job raised) never reaches `on_multirun_end`: at interpreter
exit the parent run, and every job run under it still RUNNING, is closed: KILLED after Ctrl-C (SIGINT), FAILED
otherwise. With the joblib launcher the worker processes that ran those jobs are gone by then (loky ends them).
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from afx import redact, tracking, ui_links

log = logging.getLogger(__name__)
INTERRUPTED = threading.Event()  # set by SIGINT in the launcher process once `watch_interrupts` ran
_previous_handler: Any = None


def _on_sigint(signum: int, frame: Any) -> None:
    INTERRUPTED.set()
    if callable(_previous_handler):
        _previous_handler(signum, frame)
    else:
        raise KeyboardInterrupt


def watch_interrupts() -> None:
    """Record Ctrl-C in `INTERRUPTED` (then behave as before); idempotent, main thread only."""
    global _previous_handler
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is _on_sigint:
        return
    _previous_handler = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, _on_sigint)


def _uri_and_root(config: DictConfig) -> tuple[str, str]:
    if not HydraConfig.initialized():  # the launcher process: interpolations like ${hydra:runtime.cwd} need it
        HydraConfig.instance().set_config(config)
    root = Path(config.hydra.runtime.cwd)
    uri = tracking.tracking_uri(root, config.tracking.get("uri"))
    artifact_root = config.tracking.get("artifact_root") or str(root / "mlruns" / "artifacts")
    return uri, artifact_root


def close_interrupted_sweep(uri: str, parent: str, status: str, reason: str) -> list[str]:
    """End the job runs under `parent` still RUNNING, then the parent, with `status`; the run ids closed."""
    client = tracking.client(uri)
    experiment = client.get_run(parent).info.experiment_id
    children = client.search_runs(
        [experiment], f"tags.mlflow.parentRunId = '{parent}' and attributes.status = 'RUNNING'", max_results=5000
    )
    closed = []
    for run in [*children, client.get_run(parent)]:
        if run.info.status != "RUNNING":
            continue
        client.set_tag(run.info.run_id, "afx.end_reason", reason)
        client.set_terminated(run.info.run_id, status)
        closed.append(run.info.run_id)
    return closed


class SweepParentCallback(Callback):
    """Creates the parent run when a multirun starts; finishes it and prints where results are at the end."""

    def __init__(self) -> None:
        self._open: tuple[str, Path] | None = None  # (uri, sweep dir) while the multirun runs

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        redact.install_log_filter(redact.secret_values(OmegaConf.to_container(config)))  # the launcher's log lines
        uri, artifact_root = _uri_and_root(config)
        sweep_dir = Path(config.hydra.sweep.dir)
        tracking.create_parent_run(
            uri,
            config.tracking.experiment,
            artifact_root,
            sweep_dir,
            {"afx.sweep_id": sweep_dir.name},
            liveness=config.tracking,
        )
        self._open = (uri, sweep_dir)
        watch_interrupts()
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        """The multirun stopped before its end: close its parent and its still-RUNNING job runs."""
        if self._open is None:
            return
        uri, sweep_dir = self._open
        self._open = None
        parent = tracking.read_parent_run_id(sweep_dir)
        if not parent:
            return
        status, reason = ("KILLED", "interrupted (Ctrl-C)") if INTERRUPTED.is_set() else ("FAILED", "multirun stopped")
        try:
            closed = close_interrupted_sweep(uri, parent, status, reason)
            log.info("marked %d run(s) of sweep %s %s", len(closed), sweep_dir.name, status)
        except Exception:  # noqa: BLE001 - at exit; the next run's stale-run sweep closes them later
            log.warning("could not close the runs of sweep %s", sweep_dir.name, exc_info=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._open = None
        atexit.unregister(self._at_exit)
        uri, _ = _uri_and_root(config)
        sweep_dir = Path(config.hydra.sweep.dir)
        parent = tracking.read_parent_run_id(sweep_dir)
        if parent:
            tracking.end_parent_run(uri, parent)
        print(f"\nafx: sweep finished. Results: {sweep_dir.resolve()} (transcripts.jsonl and metrics.json per job)")
        print(f"afx: MLflow experiment '{config.tracking.experiment}', parent run {parent}")
        print(f"afx: open the UI with:  {tracking.ui_command(uri)}")
        ui_links.print_sweep_links(tracking.client(uri), parent)  # runs table, compare view, summary figures
