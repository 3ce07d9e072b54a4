"""SIGKILL in the middle of a multirun, then the same command again: nothing stored is lost, nothing is sampled twice.

Run with the basic launcher (jobs one after another in one process) and with joblib (two worker processes).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from afx.cache import shard_files
from helpers import run_afx

N_QUERIES = 12
COMMAND = (
    "-m",
    "setting=helpful_only,animal_welfare",
    "prefix=none,deceptive",
    "model=simulated",
    "model.delay_s=0.01",
    f"data.limit={N_QUERIES}",
    "progress=false",
)
LAUNCHERS = {"basic": (), "joblib": ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")}


def _keys(db: Path) -> set[str]:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return {row[0] for row in conn.execute("SELECT key FROM responses")}
    except sqlite3.OperationalError:  # the table is not there yet
        return set()


def rows(db: Path, where: str = "all") -> int:
    """Distinct responses stored in the main file and the write shards of parallel jobs (live or orphaned), or
    in the shards only (`where="shards"`)."""
    files = [db] if db.exists() and where == "all" else []
    files += shard_files(db)
    return len(set().union(*(_keys(f) for f in files)))


def read_records(path: Path) -> list[dict]:
    """Complete lines only: a SIGKILL can cut the last line of a job's transcripts.jsonl."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def sample_id(r: dict) -> tuple:
    return (r["setting"], r["prefix"], r["variation"], r["query_id"], r["tier"], r["sample_index"])


def content(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in ("calls", "cache_hits")}


def kill_midway(cwd: Path, args: tuple[str, ...], db: Path, shards: bool) -> tuple[int, int]:
    """Start the multirun, SIGKILL its whole process group once the first job is done and the next under way
    (with write shards: once they hold half a job's responses, so the kill leaves orphans). (stored, in shards)"""
    proc = subprocess.Popen(
        [sys.executable, "-m", "afx", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    per_job = 2 * N_QUERIES  # transcripts; each takes at least one call
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if shards and rows(db) >= per_job and rows(db, "shards") >= per_job // 2:
                break
            if not shards and rows(db) >= 2 * per_job + per_job // 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the multirun ended before it could be killed: raise data.limit or delay_s"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return rows(db), rows(db, "shards")


@pytest.fixture(scope="module", params=list(LAUNCHERS))
def resumed(request, tmp_path_factory) -> dict:
    """A multirun SIGKILLed mid-way, then the same command run again to the end."""
    cwd = tmp_path_factory.mktemp(f"resume-{request.param}")
    args = (*COMMAND, *LAUNCHERS[request.param])
    db = cwd / "outputs" / "cache" / "responses.sqlite"
    stored, orphaned = kill_midway(cwd, args, db, shards=request.param == "joblib")
    (killed_sweep,) = list((cwd / "outputs" / "multirun").iterdir())
    kept = [r for p in killed_sweep.glob("*/transcripts.jsonl") for r in read_records(p)]
    while time.strftime("%Y-%m-%d_%H-%M-%S") <= killed_sweep.name:  # the rerun gets its own sweep dir
        time.sleep(0.1)
    done = run_afx(*args, cwd=cwd, timeout=300)
    return {
        "cwd": cwd,
        "launcher": request.param,
        "db": db,
        "stored": stored,
        "orphaned": orphaned,
        "kept": kept,
        "killed_sweep": killed_sweep,
        "done": done,
    }


def test_sigkill_mid_multirun_then_same_command_finishes_without_resampling(resumed):
    tmp_path, db, stored, kept = resumed["cwd"], resumed["db"], resumed["stored"], resumed["kept"]
    assert stored > 0 and kept, "finished samples must be on disk after SIGKILL"
    done = resumed["done"]
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = [p for p in (tmp_path / "outputs" / "multirun").iterdir() if p != resumed["killed_sweep"]]

    # every sample of every job exists, once
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == 4
    records = [r for j in jobs for r in read_records(j / "transcripts.jsonl")]
    ids = [sample_id(r) for r in records]
    assert len(ids) == len(set(ids)) == 4 * 2 * N_QUERIES
    # nothing stored before the kill is lost or changed: the rerun replays it exactly
    by_id = {sample_id(r): content(r) for r in records}
    assert all(by_id[sample_id(r)] == content(r) for r in kept)
    # no response generated twice: the rerun called the model only for requests not in the cache ...
    metrics = [json.loads((j / "metrics.json").read_text())["metrics"] for j in jobs]
    calls = sum(m["calls/model"] for m in metrics)
    hits = sum(m["calls/cache_hits"] for m in metrics)
    total = rows(db)
    assert 0 < stored < total, "the kill must have come mid-way"
    if resumed["launcher"] == "joblib":  # cache.shards=auto: the killed jobs' shards were folded in by the rerun
        assert resumed["orphaned"] > 0 and rows(db, "shards") == 0
    assert calls == total - stored and hits == stored
    # ... and the cache holds exactly one row per distinct request of the sweep
    assert total == sum(r["calls"] + r["cache_hits"] for r in records) == calls + hits

    # MLflow: the rerun is its own sweep; its summary counts its four jobs, not the killed sweep's runs
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("afx")
    parent_id = (sweep / "mlflow_parent_run_id").read_text().strip()
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'")
    children = [r for r in children if r.data.tags.get("afx.kind") == "job"]
    assert len(children) == 4 and all(r.info.status == "FINISHED" for r in children)
    assert sum(r.data.metrics["train/n_total"] + r.data.metrics["unmonitored/n_total"] for r in children) == len(ids)


def test_runs_of_a_killed_sweep_are_not_left_running_after_the_rerun(resumed):
    assert resumed["done"].returncode == 0
    client = MlflowClient(f"sqlite:///{resumed['cwd'] / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("afx")
    running = client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'")
    assert running == [], [(r.info.run_name, r.data.tags.get("afx.kind")) for r in running]
