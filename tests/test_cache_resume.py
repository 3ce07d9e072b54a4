"""The response cache: a rerun makes zero model calls, and a killed sweep resumes where it stopped."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from afx.backends.base import Generation, GenerationRequest
from afx.cache import ResponseCache, request_key

ARGS = ("model=simulated", "setting=animal_welfare", "data.limit=30", "progress=false")


def _metrics(cwd: Path) -> list[dict]:
    files = sorted(cwd.glob("outputs/runs/*/metrics.json"))
    return [json.loads(f.read_text())["metrics"] for f in files]


def test_rerun_makes_zero_model_calls(afx_cli, tmp_path):
    first = afx_cli(*ARGS)
    assert first.returncode == 0, first.stderr
    time.sleep(1.1)  # run dirs are named by the second
    second = afx_cli(*ARGS)
    assert second.returncode == 0, second.stderr
    a, b = _metrics(tmp_path)
    assert a["calls/model"] > 0 and a["calls/cache_hits"] == 0
    assert b["calls/model"] == 0 and b["calls/cache_hits"] == a["calls/model"]
    assert {k: v for k, v in a.items() if not k.startswith(("calls/", "tokens/"))} == {
        k: v for k, v in b.items() if not k.startswith(("calls/", "tokens/"))
    }


def test_killed_run_resumes_without_repeating_calls(tmp_path):
    cmd = [sys.executable, "-m", "afx", *ARGS, "model.delay_s=0.05"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = tmp_path / "outputs" / "cache" / "responses.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        if db.exists() and sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0] >= 10:
            break
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("afx: interrupted. Every finished sample is kept")
    cached = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    partial = next(tmp_path.glob("outputs/runs/*/transcripts.jsonl")).read_text().splitlines()
    assert cached >= 10 and len(partial) >= 1, "finished samples must be on disk after Ctrl-C"
    time.sleep(1.1)
    done = subprocess.run([sys.executable, "-m", "afx", *ARGS], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    resumed = _metrics(tmp_path)[-1]
    assert resumed["calls/cache_hits"] >= cached
    total = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert resumed["calls/model"] == total - cached


def test_cache_key_covers_the_whole_request_and_keeps_first_writer(tmp_path):
    req = GenerationRequest("sys", (("user", "hi"),), "<", {"temperature": 1.0}, "q|train|0")
    ident = {"backend": "x"}
    base = request_key(ident, req)
    variants = [
        GenerationRequest("sys2", req.messages, req.prefill, req.params, req.sample_key),
        GenerationRequest(req.system, (("user", "hi!"),), req.prefill, req.params, req.sample_key),
        GenerationRequest(req.system, req.messages, "<S", req.params, req.sample_key),
        GenerationRequest(req.system, req.messages, req.prefill, {"temperature": 0.5}, req.sample_key),
        GenerationRequest(req.system, req.messages, req.prefill, req.params, "q|train|1"),
    ]
    assert len({base, *(request_key(ident, v) for v in variants), request_key({"backend": "y"}, req)}) == 7
    assert request_key(ident, GenerationRequest(*req.__dict__.values())) == base  # meta is not in the key
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put(base, "x", Generation("first"))
    cache.put(base, "x", Generation("second"))
    assert cache.get(base).text == "first" and len(cache) == 1
