"""Whole sweeps with model=anthropic against the loopback fake server (real SDK, real CLI subprocess):
faults, SIGKILL and resume, API keys, Message Batches."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from afx.backends.anthropic_api import AnthropicBackend
from afx.backends.base import GenerationRequest
from afx.cache import ResponseCache
from afx.sampling import CachedBackend, Deferred, Interrupted, RetryPolicy
from afx.testing.fake_anthropic import FAULT_KINDS, FakeAnthropic, Faults
from helpers import run_afx

KEY = "sk-ant-test-0000"
VOLATILE = ("calls/", "tokens/", "cost/")


@pytest.fixture
def fake():
    with FakeAnthropic(latency_s=0.002) as server:
        yield server


def _args(fake, *extra):
    return (
        "-m",
        "setting=helpful_only,animal_welfare",
        "model=anthropic",
        f"model.base_url={fake.url}",
        "model.max_concurrency=8",
        "model.timeout_s=0.4",
        "model.retry_wait_s=0.01",
        "data.limit=4",
        "progress=false",
        *extra,
    )


def _sweep(cwd: Path, fake, *extra, key: str | None = KEY):
    cwd.mkdir(parents=True, exist_ok=True)
    env = {"ANTHROPIC_API_KEY": key} if key else {}
    return run_afx(*_args(fake, *extra), cwd=cwd, env=env, timeout=300)


def _jobs(cwd: Path) -> dict[str, tuple[dict, list[dict]]]:
    """setting -> (metrics, transcripts) for every job of the sweep under cwd."""
    out = {}
    for job in sorted(cwd.glob("outputs/multirun/*/*/metrics.json")):
        records = [json.loads(line) for line in (job.parent / "transcripts.jsonl").read_text().splitlines()]
        out[records[0]["setting"]] = (json.loads(job.read_text())["metrics"], records)
    return out


def _every_fifth():
    """Exactly one request in five fails, the kinds in turn (429, 529, 500, dropped connection, timeout)."""
    counter = itertools.count()
    lock = threading.Lock()

    def pick(body, attempt):
        with lock:
            n = next(counter)
        return FAULT_KINDS[(n // 5) % len(FAULT_KINDS)] if n % 5 == 0 and attempt < 3 else None

    return pick


def _stable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith(VOLATILE)}


def test_sweep_survives_twenty_percent_faults_with_identical_results(fake, tmp_path):
    clean = _sweep(tmp_path / "clean", fake)
    assert clean.returncode == 0, clean.stderr[-3000:]
    fake.faults = Faults(fn=_every_fifth(), slow_s=0.8)
    fake.reset()
    faulty = _sweep(tmp_path / "faulty", fake)
    assert faulty.returncode == 0, faulty.stderr[-3000:]
    injected = sum(fake.faults_injected.values())
    assert injected >= 0.18 * fake.count("messages") and len(fake.faults_injected) == 5, fake.faults_injected
    a, b = _jobs(tmp_path / "clean"), _jobs(tmp_path / "faulty")
    assert set(a) == set(b) == {"helpful_only", "animal_welfare"}
    for setting in a:
        (ma, ra), (mb, rb) = a[setting], b[setting]
        ids = [(r["query_id"], r["tier"], r["sample_index"]) for r in rb]
        assert len(ids) == len(set(ids)) == 8, "every sample present exactly once"
        assert ids == [(r["query_id"], r["tier"], r["sample_index"]) for r in ra], "deterministic order"
        assert all(r["status"] != "error" for r in rb)
        assert _stable(ma) == _stable(mb)
        assert mb["calls/retries"] > 0 and sum(v for k, v in mb.items() if k.startswith("calls/retry/")) > 0
        assert mb["tokens/cache_read"] > 0 and mb["cost/usd"] > 0
        # a timed-out attempt is abandoned: the server may still finish and bill it, so it is counted and priced
        assert ma["calls/abandoned"] == 0 and "cost/abandoned_usd_est" not in ma
        assert mb["calls/abandoned"] == mb.get("calls/retry/timeout", 0)
        if mb["calls/abandoned"]:
            assert 0 < mb["cost/abandoned_usd_est"] < mb["cost/usd"]
    assert sum(b[s][0]["calls/abandoned"] for s in b) == fake.faults_injected["slow"] > 0


def _stored(db: Path) -> int:
    """Responses in the cache so far; 0 before the job has created the file and its table."""
    try:
        return sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0] if db.exists() else 0
    except sqlite3.OperationalError:  # the file exists, the table not yet
        return 0


def test_sigkill_then_rerun_resends_nothing_that_was_stored(fake, tmp_path):
    fake.latency_s = 0.03
    cmd = [sys.executable, "-m", "afx", *_args(fake, "data.limit=10", "model.max_concurrency=4")]
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "outputs" / "cache" / "responses.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.05)
        if _stored(db) >= 15:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert stored >= 15
    fake.reset()
    done = run_afx(
        *_args(fake, "data.limit=10", "model.max_concurrency=4"), cwd=tmp_path, env={"ANTHROPIC_API_KEY": KEY}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    total = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert fake.count("messages") == total - stored, "a stored response was requested again"
    runs = sorted(tmp_path.glob("outputs/multirun/*"))
    finished = _jobs(tmp_path)
    assert len(runs) == 2 and {len(records) for _, records in finished.values()} == {20}


def test_missing_key_fails_before_any_request(fake, tmp_path):
    done = _sweep(tmp_path, fake, key=None)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [errors[0]] and errors[0].startswith("afx: error: ANTHROPIC_API_KEY is not set")
    assert sum(fake.counts.values()) == 0


def test_invalid_key_fails_before_the_first_sample(fake, tmp_path):
    fake.api_keys = {"the-right-key"}
    done = _sweep(tmp_path, fake, key="a-wrong-key")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("afx: error:")]
    assert lines == ["afx: error: ANTHROPIC_API_KEY was rejected by the Anthropic API (401 authentication_error)"]
    assert "Traceback" not in done.stderr
    assert fake.count("messages") == 0


def test_api_key_never_reaches_mlflow_or_outputs(fake, tmp_path):
    sentinel = "sk-ant-SENTINEL-7f3a9c1e5b"
    fake.api_keys = {sentinel}
    done = _sweep(tmp_path, fake, key=sentinel)
    assert done.returncode == 0, done.stderr[-3000:]
    assert fake.count("messages", ok=True) > 0, "the key did reach the API"
    assert sentinel not in done.stdout + done.stderr
    searched = 0
    for root in ("mlruns", "outputs"):
        for path in (tmp_path / root).rglob("*"):
            if path.is_file():
                searched += 1
                assert sentinel.encode() not in path.read_bytes(), path
    assert searched > 20


def test_batch_mode_sweep_matches_the_online_sweep(fake, tmp_path):
    online = _sweep(tmp_path / "online", fake)
    assert online.returncode == 0, online.stderr[-3000:]
    fake.reset()
    fake.batch_error_rate = 0.2
    batch = _sweep(tmp_path / "batch", fake, "model.batch=true", "model.batch_poll_s=0.02")
    assert batch.returncode == 0, batch.stderr[-3000:]
    assert fake.count("messages") == 0 and fake.count("batches.create") >= 4  # >= 2 rounds per job
    a, b = _jobs(tmp_path / "online"), _jobs(tmp_path / "batch")
    for setting in a:
        assert _stable(a[setting][0]) == _stable(b[setting][0])
    assert sum(m.get("calls/retry/batch_overloaded_error", 0) for m, _ in b.values()) > 0
    state = tmp_path / "batch" / "outputs" / "cache" / "responses.sqlite.batches.sqlite"
    assert state.exists()


def test_a_batch_survives_a_restart(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    fake.batch_latency_s = 0.6
    model = {"backend": "anthropic", "name": "claude-opus-4-5", "base_url": fake.url, "batch_poll_s": 0.02}
    requests = [GenerationRequest("sys", (("user", f"q{i}"),), "<", {"max_tokens": 50}, f"k{i}") for i in range(3)]
    cache_path = tmp_path / "c.sqlite"

    def start():
        backend = AnthropicBackend(model)
        cache = ResponseCache(cache_path)
        cached = CachedBackend(backend, cache, policy=RetryPolicy(3, 0.01), defer=True)
        for request in requests:
            with pytest.raises(Deferred):
                cached.generate(request)
        return cached, backend.batch_runner(cache, cache_path, progress=False), cache

    cached, runner, _ = start()
    failure: list[BaseException] = []

    def first_run():
        try:
            runner.run(cached)
        except BaseException as exc:  # noqa: BLE001
            failure.append(exc)

    thread = threading.Thread(target=first_run)
    thread.start()
    while fake.count("batches.create") == 0:
        time.sleep(0.01)
    cached.stop.set()  # the process "dies" while the batch is processing
    thread.join(5)
    assert failure and isinstance(failure[0], Interrupted)
    cached, runner, cache = start()
    runner.run(cached)
    assert fake.count("batches.create") == 1, "the restarted job polls the batch it already submitted"
    assert all(cache.get(cached.key(r)) is not None for r in requests)
