"""Runs left RUNNING by a dead process are closed KILLED by the next afx process, on any machine (issue 16.4).

Real afx processes against one SQLite MLflow store: a job owner on this machine (pid checks), a job owner on
"another machine" (a process in its own UTS namespace with another host name, `unshare -u`: only its heartbeat
tells whether it lives), and a run whose pid now belongs to another process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from afx import run_owner, tracking
from helpers import run_afx

SLOW_JOB = ("model=simulated", "model.delay_s=1.0", "data.limit=100", "progress=false")  # one call at a time
QUICK_JOB = ("model=simulated", "data.limit=1", "progress=false", "viewer=false")
FAST_BEATS = ("tracking.heartbeat_interval_s=0.5", "tracking.heartbeat_timeout_s=4")


def _client(cwd: Path) -> MlflowClient:
    """A client on the store the afx processes share (opened under afx's store lock: they may be creating it)."""
    return tracking.client(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")


def _start(cwd: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "afx", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=(cwd / "slow-job.log").open("w"),
        start_new_session=True,
    )


def _run_of(cwd: Path, proc: subprocess.Popen, timeout: float = 120) -> Run:
    """The job run owned by process `proc`, once it exists."""
    pid, deadline = proc.pid, time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (cwd / "slow-job.log").read_text()[-3000:]
        if (cwd / "mlruns" / "mlflow.db").exists():
            client = _client(cwd)
            exp = client.get_experiment_by_name("afx")
            if exp is not None:
                runs = client.search_runs([exp.experiment_id], f"tags.`afx.pid` = '{pid}'")
                if runs:
                    return runs[0]
        time.sleep(0.3)
    raise AssertionError(f"process {pid} created no run within {timeout} s")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_dead_owner_on_this_machine_is_closed_and_a_live_one_is_not(tmp_path):
    proc = _start(tmp_path, *SLOW_JOB, "tracking.heartbeat_interval_s=0.5", "tracking.heartbeat_timeout_s=4")
    try:
        run = _run_of(tmp_path, proc)
        tags = run.data.tags
        assert tags["afx.host"] and tags["afx.boot_id"] == run_owner.boot_id()
        assert tags["afx.pid_start"] == run_owner.process_start(proc.pid) != ""
        first_beat = float(tags["afx.heartbeat"])
        deadline = time.monotonic() + 60  # the heartbeat tag moves while the job runs
        while float(_client(tmp_path).get_run(run.info.run_id).data.tags["afx.heartbeat"]) < first_beat + 1:
            assert time.monotonic() < deadline, "afx.heartbeat was not rewritten"
            time.sleep(0.3)

        # a run whose pid is alive but belongs to another process (pid reused): this test's own pid
        client = _client(tmp_path)
        reused = client.create_run(
            run.info.experiment_id,
            run_name="pid reused",
            tags={
                **{k: v for k, v in tags.items() if k.startswith("afx.")},
                "afx.pid": str(os.getpid()),
                "afx.pid_start": "1",
            },
        )

        # another afx process opens the experiment while the owner lives: the live run is left alone
        done = run_afx(*QUICK_JOB, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
        closed = client.get_run(reused.info.run_id)
        assert closed.info.status == "KILLED"
        assert closed.data.tags["afx.end_reason"] == (
            f"stale: owner process {os.getpid()} on {tags['afx.host']} is gone (its pid now belongs to another process)"
        )
    finally:
        _kill(proc)

    # the owner died (SIGKILL): the next afx process closes its run
    done = run_afx(*QUICK_JOB, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    closed = _client(tmp_path).get_run(run.info.run_id)
    assert closed.info.status == "KILLED"
    assert closed.data.tags["afx.end_reason"] == f"stale: owner process {proc.pid} on {tags['afx.host']} is gone"
    running = _client(tmp_path).search_runs([run.info.experiment_id], "attributes.status = 'RUNNING'")
    assert running == []


def _other_host_prefix() -> tuple[str, ...]:
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    probe = subprocess.run([unshare, "-u", "hostname", "afx-node-b"], capture_output=True)
    return (unshare, "-u", "sh", "-c", 'hostname afx-node-b && exec "$@"', "sh") if probe.returncode == 0 else ()


@pytest.mark.skipif(not _other_host_prefix(), reason="needs `unshare -u` (root) to give a process another host name")
def test_a_run_on_another_machine_is_closed_after_the_heartbeat_timeout(tmp_path):
    proc = _start(tmp_path, *SLOW_JOB, *FAST_BEATS, prefix=_other_host_prefix())
    try:
        run = _run_of(tmp_path, proc)
        assert run.data.tags["afx.host"] == "afx-node-b"
        # this machine cannot see that process (another host name): while its heartbeat is fresh it lives
        done = run_afx(*QUICK_JOB, *FAST_BEATS, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert _client(tmp_path).get_run(run.info.run_id).info.status == "RUNNING"
    finally:
        _kill(proc)
    last_beat = float(_client(tmp_path).get_run(run.info.run_id).data.tags["afx.heartbeat"])
    while time.time() < last_beat + 4.5:  # past tracking.heartbeat_timeout_s
        time.sleep(0.2)
    done = run_afx(*QUICK_JOB, *FAST_BEATS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    closed = _client(tmp_path).get_run(run.info.run_id)
    assert closed.info.status == "KILLED"
    reason = closed.data.tags["afx.end_reason"]
    assert reason.startswith(f"stale: no heartbeat from process {proc.pid} on afx-node-b for ")
    assert reason.endswith(" s (tracking.heartbeat_timeout_s=4)")


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("tracking.heartbeat_timeout_s=abc", "afx: error: tracking.heartbeat_timeout_s='abc': must be a number"),
        ("tracking.heartbeat_interval_s=0", "afx: error: tracking.heartbeat_interval_s=0: must be a number"),
        ("tracking.heartbeat_timeout_s=40", "afx: error: tracking.heartbeat_timeout_s=40 must exceed twice"),
    ],
)
def test_bad_heartbeat_settings_are_one_line(tmp_path, override, line):
    done = run_afx(*QUICK_JOB, override, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(line), done.stderr[-2000:]
