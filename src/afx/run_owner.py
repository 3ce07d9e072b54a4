"""Which process owns an MLflow run, whether that owner is still alive, and closing the runs of dead owners.

Every afx run (a job, a sweep's parent, a validation) carries tags naming its owner: `afx.host`, `afx.boot_id`
(the kernel's boot id, so a rebooted or different machine with the same name is not taken for this one),
`afx.pid`, `afx.pid_start` (the process's start time, so a reused pid is not taken for the owner) and
`afx.heartbeat` (unix seconds, rewritten every `tracking.heartbeat_interval_s` while the owner lives).

Any afx process that opens an experiment first closes the runs of that experiment left `RUNNING` by a dead owner
(`close_stale_runs`): `KILLED`, with the tag `afx.end_reason`. An owner on this machine is dead when its pid is
gone or belongs to a process with another start time; an owner on another machine, whose processes cannot be seen
from here, when its last heartbeat is older than `tracking.heartbeat_timeout_s`.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from afx.errors import AfxError

log = logging.getLogger(__name__)
KINDS = ("job", "sweep", "validation")  # afx.kind of the runs afx closes (never another tool's runs)
HEARTBEAT = "afx.heartbeat"
END_REASON = "afx.end_reason"


@dataclass(frozen=True)
class Liveness:
    """`tracking.heartbeat_interval_s` and `tracking.heartbeat_timeout_s`."""

    interval_s: float = 30.0
    timeout_s: float = 300.0

    @classmethod
    def from_config(cls, tracking_cfg: Mapping[str, Any] | None) -> Liveness:
        """From the `tracking` config section (keys absent: the defaults); AfxError names a bad value."""
        cfg, default = tracking_cfg or {}, cls()
        values = {}
        for key, fallback in (("heartbeat_interval_s", default.interval_s), ("heartbeat_timeout_s", default.timeout_s)):
            raw = cfg.get(key, fallback)
            try:
                values[key] = float(fallback if raw is None else raw)
            except (TypeError, ValueError):
                values[key] = float("nan")
            if not values[key] > 0:
                raise AfxError(f"tracking.{key}={raw!r}: must be a number of seconds > 0")
        interval, timeout = values["heartbeat_interval_s"], values["heartbeat_timeout_s"]
        if timeout <= 2 * interval:
            raise AfxError(
                f"tracking.heartbeat_timeout_s={timeout:g} must exceed twice tracking.heartbeat_interval_s="
                f"{interval:g} (a live run on another machine would be closed between two heartbeats)"
            )
        return cls(interval, timeout)


def liveness(value: Liveness | Mapping[str, Any] | None) -> Liveness:
    """A Liveness as is, or read from the `tracking` config section (None: the defaults)."""
    return value if isinstance(value, Liveness) else Liveness.from_config(value)


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), to tell a live pid from a reused one."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def owner_tags() -> dict[str, str]:
    """The tags naming this process as a run's owner, with a first heartbeat."""
    pid = os.getpid()
    return {
        "afx.host": socket.gethostname(),
        "afx.boot_id": boot_id(),
        "afx.pid": str(pid),
        "afx.pid_start": process_start(pid),
        HEARTBEAT: f"{time.time():.3f}",
    }


def _same_machine(tags: Mapping[str, str]) -> bool:
    if tags.get("afx.host") != socket.gethostname():
        return False
    recorded = tags.get("afx.boot_id")
    return not recorded or recorded == boot_id()  # runs tagged before boot ids were recorded: the host name


def owner_gone(tags: Mapping[str, str], start_ms: int, liveness: Liveness, now: float | None = None) -> str | None:
    """Why the run's owner is dead (its `afx.end_reason`), or None while it may be alive."""
    host, pid = tags.get("afx.host", "?"), tags.get("afx.pid", "")
    if _same_machine(tags) and pid.isdigit():
        if not Path(f"/proc/{pid}").exists():
            return f"stale: owner process {pid} on {host} is gone"
        if process_start(int(pid)) != tags.get("afx.pid_start", ""):
            return f"stale: owner process {pid} on {host} is gone (its pid now belongs to another process)"
        return None
    try:
        last = float(tags.get(HEARTBEAT, ""))
    except ValueError:
        last = start_ms / 1000  # no heartbeat recorded: the run's start is its last sign of life
    age = (time.time() if now is None else now) - last
    if age > liveness.timeout_s:
        return (
            f"stale: no heartbeat from process {pid or '?'} on {host} for {age:.0f} s "
            f"(tracking.heartbeat_timeout_s={liveness.timeout_s:g})"
        )
    return None


def close_stale_runs(client: MlflowClient, experiment: str, liveness: Liveness | None = None) -> list[str]:
    """Mark the experiment's afx runs KILLED whose owner is dead (SIGKILL, a lost node); the run ids closed."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    liveness = liveness or Liveness()
    closed = []
    for run in client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'", max_results=5000):
        tags = run.data.tags
        if tags.get("afx.kind") not in KINDS or not tags.get("afx.host"):
            continue
        reason = owner_gone(tags, run.info.start_time or 0, liveness)
        if reason is None:
            continue
        client.set_tag(run.info.run_id, END_REASON, reason)
        client.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    if closed:
        log.warning("marked %d MLflow run(s) left RUNNING by a dead process as KILLED", len(closed))
    return closed


class Heartbeat:
    """A daemon thread rewriting a run's `afx.heartbeat` tag every `interval_s` until `stop()`."""

    def __init__(self, client: MlflowClient, run_id: str, interval_s: float) -> None:
        self.client, self.run_id, self.interval_s = client, run_id, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"afx-heartbeat-{run_id[:8]}", daemon=True)
        self._thread.start()
        _OPEN[run_id] = self

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.client.set_tag(self.run_id, HEARTBEAT, f"{time.time():.3f}")
            except Exception:  # noqa: BLE001 - a missed beat is retried; only a long silence closes the run
                log.debug("heartbeat of run %s not written", self.run_id, exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        _OPEN.pop(self.run_id, None)


_OPEN: dict[str, Heartbeat] = {}  # this process's runs that are still open, by run id


@atexit.register
def _stop_all() -> None:
    for beat in list(_OPEN.values()):
        beat._stop.set()


def stop_heartbeat(run_id: str) -> None:
    beat = _OPEN.get(run_id)
    if beat is not None:
        beat.stop()


def close_open_runs(status: str, reason: str) -> list[str]:
    """End every run this process still holds open (its launcher died: the process is about to exit)."""
    closed = []
    for run_id, beat in list(_OPEN.items()):
        beat.stop()
        try:
            beat.client.set_tag(run_id, END_REASON, reason)
            beat.client.set_terminated(run_id, status)
            closed.append(run_id)
        except Exception:  # noqa: BLE001 - the next afx process's stale-run sweep closes it instead
            log.warning("could not close run %s", run_id, exc_info=True)
    return closed
