"""`kill -9` of a joblib multirun's launcher: its worker processes exit with it and finish no job (issue 15.3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from helpers import run_afx

COMMAND = (
    "-m",
    "setting=helpful_only,animal_welfare",
    "prefix=none,deceptive",
    "model=simulated",
    "model.delay_s=0.3",  # each job takes minutes: the kill lands mid-job
    "data.limit=40",
    "progress=false",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
    "+hydra.callbacks.pid._target_=test_parallel.PidCallback",
)
EXIT_CAP_S = 60  # generous: the watch polls every 0.2 s


def session_members(sid: int) -> dict[int, str]:
    """Live (non-zombie) processes of session `sid`: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found[int(entry.name)] = cmd
    return found


def test_workers_exit_when_the_launcher_is_killed_and_finish_no_job(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    sweep = tmp_path / "sweep"
    log = (tmp_path / "launcher.log").open("w")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "afx", *COMMAND, f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and launcher.poll() is None:
            pids = list(sweep.glob("*/pid.txt"))
            started = [p.parent / "transcripts.jsonl" for p in pids]
            if len(pids) == 2 and all(s.exists() and s.read_text().count("\n") >= 2 for s in started):
                break
            time.sleep(0.2)
        assert launcher.poll() is None, (tmp_path / "launcher.log").read_text()[-3000:]
        workers = {int(p.read_text()) for p in sweep.glob("*/pid.txt")}
        assert len(workers) == 2 and launcher.pid not in workers
        members = session_members(launcher.pid)
        assert workers <= set(members), members
        killed_at_ms = time.time() * 1000
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=30)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)

    # every process the launcher started (workers, loky's and multiprocessing's resource trackers) is gone
    deadline = time.monotonic() + EXIT_CAP_S
    while session_members(launcher.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = session_members(launcher.pid)
    if left:  # leave no orphan behind for the next test, then fail
        os.killpg(launcher.pid, signal.SIGKILL)
    assert left == {}, f"still alive {EXIT_CAP_S} s after the launcher's SIGKILL: {left}"

    # no job finished after the kill: the two interrupted jobs' runs were closed KILLED by their workers
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("afx").experiment_id])
    jobs = [r for r in runs if r.data.tags.get("afx.kind") == "job"]
    assert len(jobs) == 2, [(r.info.run_name, r.info.status) for r in runs]
    assert {int(r.data.tags["afx.pid"]) for r in jobs} == workers
    for run in jobs:
        assert run.info.status == "KILLED", (run.info.run_name, run.info.status)
        assert run.data.tags["afx.end_reason"] == f"killed: launcher process {launcher.pid} died"
        assert run.info.end_time >= killed_at_ms
    assert not [r for r in runs if r.info.status == "FINISHED"]
    for job in sweep.iterdir():
        assert not (job / "metrics.json").exists(), f"job {job.name} finished after its launcher died"

    # the sweep's parent, left RUNNING by the dead launcher, is closed by the next afx process
    (parent,) = [r for r in runs if r.data.tags.get("afx.kind") == "sweep"]
    assert parent.info.status == "RUNNING"
    done = run_afx("model=simulated", "data.limit=1", "progress=false", "viewer=false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    closed = client.get_run(parent.info.run_id)
    assert closed.info.status == "KILLED"
    assert closed.data.tags["afx.end_reason"].startswith(f"stale: owner process {launcher.pid} on ")
