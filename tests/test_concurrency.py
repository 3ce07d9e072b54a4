"""Bounded concurrency in the job loop: same results as a sequential run, really parallel, stops on a fatal
error, logs the judges' call statistics; and the retry policy itself."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest

from afx.backends.base import Generation, GenerationRequest
from afx.errors import AfxError
from afx.sampling import CachedBackend, RetryPolicy, TransientError, close_open_tags
from afx.testing.fake_anthropic import FakeAnthropic
from helpers import run_afx

SIMULATED = ("model=simulated", "setting=animal_welfare", "prefix=deceptive", "data.limit=12", "progress=false")


def _job(cwd: Path) -> tuple[dict, list[str]]:
    run = next(cwd.glob("outputs/runs/*"))
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    return metrics, (run / "transcripts.jsonl").read_text().splitlines()


def test_parallel_job_writes_the_same_file_and_metrics_as_sequential(tmp_path):
    (tmp_path / "seq").mkdir()
    (tmp_path / "par").mkdir()
    seq = run_afx(*SIMULATED, "model.delay_s=0.01", cwd=tmp_path / "seq")
    par = run_afx(*SIMULATED, "model.delay_s=0.01", "+model.max_concurrency=8", cwd=tmp_path / "par")
    assert seq.returncode == 0 and par.returncode == 0, par.stderr[-2000:]
    (ms, ts), (mp, tp) = _job(tmp_path / "seq"), _job(tmp_path / "par")
    assert ts == tp, "transcripts.jsonl ends in the deterministic (query, tier, sample) order"
    assert ms == mp


def test_workers_really_overlap_and_stay_bounded(tmp_path):
    with FakeAnthropic(latency_s=0.05) as fake:
        done = run_afx(
            "model=anthropic",
            f"model.base_url={fake.url}",
            "model.max_concurrency=6",
            "data.limit=10",
            "progress=false",
            cwd=tmp_path,
            env={"ANTHROPIC_API_KEY": "k"},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert 2 <= fake.max_inflight <= 6
    metrics, lines = _job(tmp_path)
    assert len(lines) == 20 and metrics["calls/model"] == fake.count("messages")


def test_a_fatal_error_in_one_worker_stops_the_job(tmp_path):
    with FakeAnthropic(latency_s=0.02) as fake:
        served = {"n": 0}
        lock = threading.Lock()

        def reply(body):
            with lock:
                served["n"] += 1
                if served["n"] == 6:
                    fake.api_keys = {"revoked"}  # every later request gets 401
            return "<OUTPUT>ok</OUTPUT>"

        fake.reply = reply
        done = run_afx(
            "model=anthropic",
            f"model.base_url={fake.url}",
            "model.max_concurrency=4",
            "data.limit=40",
            "progress=false",
            cwd=tmp_path,
            env={"ANTHROPIC_API_KEY": "k"},
        )
    assert done.returncode == 2
    assert [ln for ln in done.stderr.splitlines() if ln.startswith("afx: error:")] == [
        "afx: error: ANTHROPIC_API_KEY was rejected by the Anthropic API (401 authentication_error)"
    ]
    assert fake.count("messages") < 20, "workers stop instead of draining 80 items"


class _Flaky:
    name = "flaky"

    def __init__(self, faults: list[Exception | None]) -> None:
        self.faults = faults

    def identity(self) -> dict:
        return {"backend": self.name}

    def generate(self, request: GenerationRequest, seed: int) -> Generation:
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            raise fault
        return Generation("<OUTPUT>x</OUTPUT>")


def test_retry_policy_backoff_jitter_and_retry_after():
    policy = RetryPolicy(max_attempts=5, base_s=1.0, max_s=8.0)
    rng = random.Random(0)
    waits = [policy.delay(n, None, rng) for n in range(5)]
    assert all(0.5 * min(8, 2**n) <= w <= min(8, 2**n) for n, w in enumerate(waits))
    assert 30 <= policy.delay(0, 30.0, rng) <= 31, "retry-after wins, plus at most 1 s of jitter"
    with pytest.raises(AfxError):
        RetryPolicy(max_attempts=0)


def test_programming_errors_are_not_retried_and_transient_ones_are():
    backend = CachedBackend(_Flaky([TypeError("bug")]), None, policy=RetryPolicy(3, 0.001))
    with pytest.raises(TypeError):
        backend.generate(GenerationRequest("s", (("user", "u"),), "", {}, "k"))
    assert backend.stats.calls == 1
    flaky = _Flaky([TransientError("429", "slow down", 0.0), TransientError("timeout")])
    backend = CachedBackend(flaky, None, policy=RetryPolicy(3, 0.001))
    backend.generate(GenerationRequest("s", (("user", "u"),), "", {}, "k"))
    assert backend.stats.retry_reasons == {"429": 1, "timeout": 1} and backend.stats.calls == 3


def test_close_open_tags_closes_innermost_first():
    assert close_open_tags("<SCRATCHPAD_REASONING>\nplan\n<DRAFT_OUTPUT>\n") == (
        "<SCRATCHPAD_REASONING>\nplan\n<DRAFT_OUTPUT>\n</DRAFT_OUTPUT>\n</SCRATCHPAD_REASONING>"
    )
    closed = "<SCRATCHPAD_REASONING>a</SCRATCHPAD_REASONING>\n"
    assert close_open_tags(closed) == closed.rstrip()


def test_judge_call_statistics_are_logged(tmp_path):
    with FakeAnthropic() as fake:
        fake.reply = lambda body: "<final_answer>no</final_answer>"
        done = run_afx(
            "model=simulated",
            "classifier=llm_judge_local_generate",
            "model@classifier.judge=anthropic_opus_4_5",  # takes temperature 0 (Opus 4.7 and later do not)
            f"classifier.judge.base_url={fake.url}",
            "classifier.judge.api_version=2023-06-01",
            "data.limit=3",
            "progress=false",
            cwd=tmp_path,
            env={"ANTHROPIC_API_KEY": "k"},
        )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics, _ = _job(tmp_path)
    assert metrics["judge/calls"] == fake.count("messages") > 0
    assert {"judge/cache_hits", "judge/retries", "judge/failures"} <= set(metrics)
