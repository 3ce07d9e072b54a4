"""Job processes of a launcher die with it (`kill -9` of a joblib or submitit_local multirun).

The launcher (`afx` / `python -m afx`) puts its pid in the environment variable AFX_LAUNCHER_PID before Hydra
starts. A job that runs in a direct child of that pid (a loky worker of the joblib launcher, a submitit_local job)
watches its parent: once it is re-parented (the launcher died), the job's open MLflow runs are closed `KILLED`
with `afx.end_reason`, and the process exits at once instead of finishing jobs nobody collects. Jobs in the
launcher's own process (basic launcher) and jobs whose parent is not the launcher (SLURM's job step) are not
watched.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from afx import run_owner

log = logging.getLogger(__name__)
ENV = "AFX_LAUNCHER_PID"
POLL_S = 0.2
EXIT_CODE = 137  # as if killed with the launcher
CLOSE_WITHIN_S = 10.0  # how long closing the runs may take before the process exits anyway
ORPHANED = threading.Event()  # set once this process's launcher is gone
_started = threading.Lock()
_watching = False


def mark_launcher() -> None:
    """In the launcher process, before any job process starts: its children inherit its pid."""
    os.environ[ENV] = str(os.getpid())


def launcher_pid() -> int | None:
    """The launcher's pid when this process is one of its job processes (its direct child), else None."""
    value = os.environ.get(ENV, "")
    if not value.isdigit() or int(value) == os.getpid() or int(value) != os.getppid():
        return None
    return int(value)


def _on_orphaned(launcher: int) -> None:
    ORPHANED.set()
    reason = f"killed: launcher process {launcher} died"
    closer = threading.Thread(target=run_owner.close_open_runs, args=("KILLED", reason), daemon=True)
    closer.start()
    closer.join(CLOSE_WITHIN_S)
    log.warning("afx: launcher process %d died; job process %d exits", launcher, os.getpid())
    os._exit(EXIT_CODE)


def _watch(launcher: int) -> None:
    while os.getppid() == launcher:
        time.sleep(POLL_S)
    _on_orphaned(launcher)


def watch_launcher() -> bool:
    """Start the parent-death watch in this job process if it is a launcher's child (idempotent); watching?"""
    global _watching
    with _started:
        if _watching:
            return True
        launcher = launcher_pid()
        if launcher is None:
            return False
        threading.Thread(target=_watch, args=(launcher,), name="afx-launcher-watch", daemon=True).start()
        _watching = True
        return True
