"""Reliability catalogue (issue 15, items 4-6): each case is an input, the exact line it must end with, its exit
code, no traceback, and for the data-loss cases what is on disk and in MLflow afterwards.

case: input -> last stderr line (exit code)
- model endpoint unreachable: model=anthropic model.base_url=http://127.0.0.1:1 -> afx: error: cannot reach
  model.base_url ... (2), within 10 s, no transcripts
- judge endpoint unreachable: classifier=llm_judge classifier.judge.base_url=... -> cannot reach
  classifier.judge.base_url ... (2)
- tracking server unreachable: tracking.uri=http://127.0.0.1:1 -> cannot reach tracking.uri ... (2), within 10 s
- SQLite MLflow store in a read-only folder -> MLflow store ... is not writable ... (2), within 10 s
- every call drops the connection (fake server) -> the first N model calls all failed to connect ... (2),
  no error transcripts, no more calls
- cache with damaged pages (header intact) -> response cache ... is damaged ... afx cache-merge NEW ... (2),
  no MLflow run; `afx cache-merge NEW DAMAGED` salvages the readable rows (0), a rerun on NEW uses them
- Ctrl-C, basic and joblib launchers -> afx: interrupted. Every finished sample is kept ... (130), no summary
  traceback, every run (parent and jobs) KILLED in MLflow, finished transcripts on disk
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from afx.testing.fake_anthropic import FakeAnthropic, Faults
from helpers import run_afx

CACHE_RUN = ("model=simulated", "setting=animal_welfare", "data.limit=100", "progress=false", "viewer=false")
SIM = ("model=simulated", "setting=animal_welfare", "data.limit=30", "progress=false", "viewer=false")
KEY = {"ANTHROPIC_API_KEY": "x"}
INTERRUPTED = "afx: interrupted. Every finished sample is kept"
PREFLIGHT_LIMIT_S = 10.0


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _assert_one_line_failure(proc: subprocess.CompletedProcess[str], pattern: str, code: int = 2) -> str:
    assert proc.returncode == code, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    line = _last_line(proc.stderr)
    assert re.fullmatch(pattern, line), line
    return line


def _timed(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = run_afx(*args, cwd=cwd, env=env, timeout=300)
    return proc, time.monotonic() - started


# --- item 4: unreachable services -------------------------------------------------------------------------------


def test_unreachable_model_endpoint_is_one_line_within_10s(tmp_path):
    proc, took = _timed("model=anthropic", "model.base_url=http://127.0.0.1:1", "progress=false", cwd=tmp_path, env=KEY)
    _assert_one_line_failure(
        proc,
        r"afx: error: cannot reach model\.base_url http://127\.0\.0\.1:1 \(connection refused\); "
        r"check the URL and that the server runs, or set preflight\.reach=false",
    )
    assert took < PREFLIGHT_LIMIT_S
    assert not list(tmp_path.glob("outputs/runs/*/transcripts.jsonl")), "no error transcripts are written"


def test_unreachable_judge_endpoint_is_one_line(tmp_path):
    proc, took = _timed(
        "model=simulated",
        "classifier=llm_judge",
        "classifier.judge.base_url=http://127.0.0.1:1",
        "progress=false",
        cwd=tmp_path,
        env=KEY,
    )
    _assert_one_line_failure(
        proc,
        r"afx: error: cannot reach classifier\.judge\.base_url http://127\.0\.0\.1:1 \(connection refused\); "
        r"check the URL and that the server runs, or set preflight\.reach=false",
    )
    assert took < PREFLIGHT_LIMIT_S


def test_unreachable_tracking_server_is_one_line_within_10s(tmp_path):
    proc, took = _timed(*SIM, "tracking.uri=http://127.0.0.1:1", cwd=tmp_path)
    _assert_one_line_failure(
        proc,
        r"afx: error: cannot reach tracking\.uri http://127\.0\.0\.1:1 \(connection refused\); "
        r"check the URL and that the server runs, or set preflight\.reach=false",
    )
    assert took < PREFLIGHT_LIMIT_S


def test_read_only_sqlite_store_is_one_line_within_10s(tmp_path):
    """A folder the user cannot write; as root (which ignores folder permissions) a read-only sysfs folder."""
    store = Path("/sys/kernel") if os.geteuid() == 0 else tmp_path / "ro"
    if os.geteuid() != 0:
        store.mkdir()
        store.chmod(stat.S_IRUSR | stat.S_IXUSR)
    proc, took = _timed(*SIM, f"tracking.uri=sqlite:///{store}/mlflow.db", cwd=tmp_path)
    _assert_one_line_failure(
        proc,
        rf"afx: error: MLflow store sqlite:///{re.escape(str(store))}/mlflow\.db is not writable "
        rf"\(folder {re.escape(str(store))} is read-only\); fix the permissions or set tracking\.uri",
    )
    assert took < PREFLIGHT_LIMIT_S


def test_sweep_whose_first_calls_all_drop_stops_in_one_line(tmp_path):
    drop_all = Faults(fn=lambda body, attempt: "drop")
    with FakeAnthropic(faults=drop_all) as fake:
        proc, took = _timed(
            "model=anthropic",
            f"model.base_url={fake.url}",
            "model.retry_wait_s=0.01",
            "cache.stop_after_connection_failures=4",
            "data.limit=10",
            "progress=false",
            cwd=tmp_path,
            env=KEY,
        )
        sent = fake.count("messages")
    _assert_one_line_failure(
        proc,
        r"afx: error: the first 4 model calls all failed to connect \(last: connection: .*\); "
        r"nothing was sampled: check the model server \(cache\.stop_after_connection_failures\)",
    )
    assert sent <= 4 + 16, "no more calls after the stop (at most the calls already in flight)"
    assert took < 60
    transcripts = list(tmp_path.glob("outputs/runs/*/transcripts.jsonl"))
    assert all(not p.read_text().strip() for p in transcripts), "no error transcripts written"


# --- item 5: a damaged response cache ---------------------------------------------------------------------------


def _corrupt_middle_pages(db: Path, pages: int = 2) -> list[int]:
    """Overwrite `pages` leaf pages of the responses table in the middle of the file with garbage; the 100-byte
    header and the key index stay intact, so the file opens and counts its rows, and only reads of those
    rows fail (before the fix: a sqlite3.DatabaseError traceback mid-run). The page numbers damaged."""
    con = sqlite3.connect(db)
    size = con.execute("PRAGMA page_size").fetchone()[0]
    leaves = [r[0] for r in con.execute("SELECT pageno FROM dbstat WHERE name = 'responses' AND pagetype = 'leaf'")]
    con.close()
    chosen = sorted(leaves)[len(leaves) // 2 - pages // 2 :][:pages]
    with db.open("r+b") as fh:
        for n in chosen:
            fh.seek((n - 1) * size)
            fh.write(bytes((i * 37 + n) % 251 for i in range(size)))
    return chosen


def test_damaged_cache_is_one_line_and_cache_merge_salvages_it(tmp_path):
    first = run_afx(*CACHE_RUN, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    db = tmp_path / "outputs" / "cache" / "responses.sqlite"
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert db.stat().st_size // 4096 > 30, "the cache spans enough pages to damage its middle"
    assert len(_corrupt_middle_pages(db)) == 2
    header = db.read_bytes()[:16]
    assert header == b"SQLite format 3\x00"

    time.sleep(1.1)  # run dirs are named by the second
    second = run_afx(*CACHE_RUN, cwd=tmp_path)
    _assert_one_line_failure(
        second,
        rf"afx: error: response cache {re.escape(str(db))} is damaged \(PRAGMA quick_check: .+\); salvage its "
        rf"readable rows with: afx cache-merge NEW {re.escape(str(db))} , then rerun with cache\.path=NEW",
    )
    mlflow_runs = sqlite3.connect(tmp_path / "mlruns" / "mlflow.db").execute("SELECT status FROM runs").fetchall()
    assert mlflow_runs == [("FINISHED",)], "the damaged cache stops the run before its MLflow run is made"
    assert len(list(tmp_path.glob("outputs/runs/*/transcripts.jsonl"))) == 1, "no transcripts from the second run"

    salvaged = tmp_path / "salvaged.sqlite"
    merge = run_afx("cache-merge", str(salvaged), str(db), cwd=tmp_path)
    assert merge.returncode == 0, merge.stderr
    assert "Traceback" not in merge.stderr
    kept = sqlite3.connect(salvaged).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert 0 < kept < rows
    assert re.search(rf"{re.escape(str(db))}: damaged; salvaged {kept} readable entries", merge.stdout), merge.stdout
    assert sqlite3.connect(salvaged).execute("PRAGMA quick_check").fetchone()[0] == "ok"

    time.sleep(1.1)
    third = run_afx(*CACHE_RUN, f"cache.path={salvaged}", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    metrics = json.loads(sorted(tmp_path.glob("outputs/runs/*/metrics.json"))[-1].read_text())["metrics"]
    assert metrics["calls/cache_hits"] >= 1 and metrics["calls/model"] >= 1


# --- item 6: Ctrl-C ---------------------------------------------------------------------------------------------


def _interrupt_sweep(cwd: Path, *extra: str) -> tuple[int, str, list[tuple[str, str]]]:
    """Start a two-job multirun, send SIGINT to its process group once a transcript is written."""
    args = [
        sys.executable, "-m", "afx", "-m", "model=simulated", "model.delay_s=0.2",
        "setting=helpful_only,animal_welfare", "data.limit=20", "progress=false", "viewer=false", *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if any(p.stat().st_size for p in cwd.glob("outputs/multirun/*/*/transcripts.jsonl")):
            break
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, stderr = proc.communicate(timeout=120)
    con = sqlite3.connect(cwd / "mlruns" / "mlflow.db")
    runs = con.execute("SELECT name, status FROM runs").fetchall()
    con.close()
    return proc.returncode, stderr, runs


@pytest.mark.parametrize(
    "launcher", [(), ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")], ids=["basic", "joblib"]
)
def test_ctrl_c_ends_every_touched_run_killed_without_a_summary_traceback(tmp_path, launcher):
    code, stderr, runs = _interrupt_sweep(tmp_path, *launcher)
    assert code == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "afx summary: FAILED" not in stderr, stderr[-3000:]
    tail = [line for line in stderr.splitlines() if line.startswith("afx")]
    assert tail[-1].startswith(INTERRUPTED), stderr[-3000:]
    statuses = dict(runs)
    assert any(name.startswith("sweep ") for name in statuses)
    assert set(statuses.values()) == {"KILLED"}, runs
    kept = [p for p in tmp_path.glob("outputs/multirun/*/*/transcripts.jsonl") if p.read_text().strip()]
    assert kept, "finished samples are on disk after Ctrl-C"
