"""Errors that must stop a sweep, and the server's word on retrying (issue 17, section 3), through the real SDK
against the loopback fake: a spend limit (429 with error_code and no retry-after, or the 400 of a limit the user
set), 402 billing_error and 413 request_too_large stop at once in one line; 504 timeout_error is retried;
`x-should-retry: false` fails that one request without a retry, counted, and the sweep goes on."""

from __future__ import annotations

import re

import pytest

from afx.backends.anthropic_api import AnthropicBackend
from afx.backends.base import GenerationRequest
from afx.errors import AfxError
from afx.sampling import BackendFailure, CachedBackend, RetryPolicy
from afx.testing.fake_anthropic import FakeAnthropic, Faults
from helpers import run_afx

REQUEST = GenerationRequest("sys", (("user", "hi"),), "", {"max_tokens": 50}, "k")


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("AFX_TEST_KEY", "test-key-not-secret")


def _cached(fake, attempts: int = 4) -> CachedBackend:
    model = {"backend": "anthropic", "name": "claude-opus-4-5", "api_key_env": "AFX_TEST_KEY", "base_url": fake.url}
    return CachedBackend(
        AnthropicBackend(model), None, policy=RetryPolicy(max_attempts=attempts, base_s=0.001, max_s=0.01)
    )


def _always(kind: str) -> Faults:
    return Faults(fn=lambda body, attempt: kind)


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        pytest.param(
            "spend_limit",
            r"the Anthropic API stopped this sweep for model=claude-opus-4-5: the organization reached its usage "
            r"tier's monthly spend limit \(HTTP 429 enforced_spend_limit_reached: .*\); finished samples are cached: "
            r"raise the limit, then rerun the same command",
            id="429-enforced-spend-limit",
        ),
        pytest.param(
            "spend_limit_400",
            r"the Anthropic API stopped this sweep for model=claude-opus-4-5: a spend limit set on the organization "
            r"or workspace was reached \(HTTP 400: You have reached your specified API usage limits\.\); .*",
            id="400-user-spend-limit",
        ),
        pytest.param(
            "402",
            r"the Anthropic API refused to bill AFX_TEST_KEY for model=claude-opus-4-5 \(402 billing_error: .*\); "
            r"add credit or fix billing, then rerun the same command \(finished samples are cached\)",
            id="402-billing",
        ),
        pytest.param(
            "413",
            r"a request for model=claude-opus-4-5 is larger than the API accepts \(413 request_too_large: .*\); "
            r"shorten the system prompt or the queries \(data\.\*\)",
            id="413-too-large",
        ),
    ],
)
def test_limits_and_billing_stop_at_once_without_a_retry(fake, kind, line):
    fake.faults = _always(kind)
    cached = _cached(fake)
    with pytest.raises(AfxError) as caught:
        cached.generate(REQUEST)
    assert re.fullmatch(line, str(caught.value)), str(caught.value)
    assert fake.count("messages") == 1, "a limit that no retry can fix is never retried"
    assert cached.stats.retries == 0


def test_a_plain_rate_limit_is_still_retried(fake):
    fake.faults = Faults(fn=lambda body, attempt: "429" if attempt == 0 else None)
    cached = _cached(fake)
    generation, _ = cached.generate(REQUEST)
    assert generation.text and cached.stats.retry_reasons == {"429": 1} and fake.count("messages") == 2


def test_504_timeout_error_is_retried(fake):
    fake.faults = Faults(fn=lambda body, attempt: "504" if attempt < 2 else None)
    cached = _cached(fake)
    generation, _ = cached.generate(REQUEST)
    assert generation.text and cached.stats.retry_reasons == {"504": 2} and fake.count("messages") == 3


def test_x_should_retry_false_fails_that_request_once_and_is_counted(fake):
    fake.faults = _always("no_retry")  # a 500, which would be retried, but the server says not to
    cached = _cached(fake)
    with pytest.raises(BackendFailure, match="500_no_retry"):
        cached.generate(REQUEST)
    assert fake.count("messages") == 1
    assert cached.stats.retry_reasons == {"500_no_retry": 1} and cached.stats.retries == 0
    assert cached.stats.failures == 1


SWEEP = ("model=anthropic", "data.limit=12", "progress=false", "viewer=false", "model.retry_wait_s=0.01")


def test_a_spend_limit_stops_the_sweep_in_one_line_without_a_retry_storm(tmp_path):
    """Every request answers the tier's spend-limit 429: the sweep ends with one line (exit 2) after at most the
    requests already in flight, writes no error transcripts, and a multirun does not go on to its next job."""
    concurrency = 4
    with FakeAnthropic(faults=_always("spend_limit")) as fake:
        proc = run_afx(
            "-m",
            "prefix=none,deceptive",
            *SWEEP,
            f"model.base_url={fake.url}",
            f"model.max_concurrency={concurrency}",
            cwd=tmp_path,
            env={"ANTHROPIC_API_KEY": "x"},
            timeout=300,
        )
        sent = fake.count("messages")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    last = [x for x in proc.stderr.strip().splitlines() if x.strip()][-1]
    assert re.fullmatch(r"afx: error: the Anthropic API stopped this sweep for model=claude-sonnet-5-5: .*", last), last
    assert 1 <= sent <= concurrency + 1, f"{sent} requests: no retries, nothing after the stop"
    transcripts = list(tmp_path.glob("outputs/multirun/*/*/transcripts.jsonl"))
    assert len(transcripts) <= 1, "the second job never started"
    assert all(not p.read_text().strip() for p in transcripts), "no error transcripts written"


def test_the_key_and_model_check_is_bounded_by_verify_timeout(fake, caplog):
    """A GET /v1/models that hangs does not hold the sweep for model.timeout_s (600 s) per attempt: each of the 3
    attempts gives up after model.verify_timeout_s, the check is skipped (logged) and sampling goes on."""
    fake.models_latency_s = 3.0
    model = {
        "backend": "anthropic",
        "name": "claude-opus-4-5",
        "api_key_env": "AFX_TEST_KEY",
        "base_url": fake.url,
        "verify_timeout_s": 0.2,
    }
    cached = CachedBackend(AnthropicBackend(model), None, policy=RetryPolicy(max_attempts=2, base_s=0.001))
    generation, _ = cached.generate(REQUEST)
    assert generation.text
    assert fake.count("models") == 3, "each attempt timed out (without the bound the first one waits and succeeds)"
    assert "key/model check failed (timeout" in caplog.text and "skipped" in caplog.text
