"""Prompt caching and Message Batches as billed (issue 17, section 5), against the loopback fake through the real SDK:
per-model minimum cacheable prefix (fake, plan, the job's warning), the 1-hour TTL in batch mode and its write price,
batches processed out of order and concurrently, results downloads inside the retry policy, expired and canceled
batches resubmitted."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import anthropic
import pytest
import yaml
from mlflow.tracking import MlflowClient

from afx.backends.anthropic_api import AnthropicBackend
from afx.backends.anthropic_cache import cache_min_tokens, default_cache_min_tokens
from afx.backends.base import GenerationRequest
from afx.cache import ResponseCache
from afx.errors import AfxError
from afx.paths import conf_dir
from afx.plan import plan
from afx.sampling import CachedBackend, Deferred, RetryPolicy
from afx.testing.fake_anthropic import FakeAnthropic
from helpers import run_afx

KEY = "sk-ant-test-cache"
SYSTEM = "Follow the operator's policy exactly and answer inside OUTPUT tags. " * 120  # ~2,040 tokens


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


def _echo(body: dict) -> str:
    """The reply names the query it answers, so a result mapped to the wrong request shows."""
    last = body["messages"][-1]["content"]
    return f"<OUTPUT>answer to {last if isinstance(last, str) else last[0]['text']}</OUTPUT>"


def _usage(fake: FakeAnthropic, model: str, system: str = SYSTEM) -> list[dict]:
    client = anthropic.Anthropic(api_key=KEY, base_url=fake.url, max_retries=0)
    system_blocks = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    out = []
    for query in ("first", "second"):
        message = client.messages.create(
            model=model, max_tokens=50, system=system_blocks, messages=[{"role": "user", "content": query}]
        )
        out.append(message.usage)
    return out


def _model(fake: FakeAnthropic, **over) -> dict:
    return {"backend": "anthropic", "name": "claude-sonnet-4-6", "base_url": fake.url, "batch_poll_s": 0.01, **over}


def _requests(n: int, system: str = SYSTEM) -> list[GenerationRequest]:
    return [GenerationRequest(system, (("user", f"query {i}"),), "", {"max_tokens": 50}, f"s{i}") for i in range(n)]


def _batch_setup(tmp_path: Path, fake: FakeAnthropic, attempts: int = 3, **over):
    backend = AnthropicBackend(_model(fake, batch=True, **over))
    cache = ResponseCache(tmp_path / "c.sqlite")
    cached = CachedBackend(backend, cache, policy=RetryPolicy(attempts, 0.001, 0.01), defer=True)
    return backend, cached, backend.batch_runner(cache, tmp_path / "c.sqlite", progress=False), cache


def _round(cached: CachedBackend, runner, requests: list[GenerationRequest]) -> int:
    """One round of the job's loop: every uncached request is deferred, then the batch runner answers them."""
    deferred = 0
    for request in requests:
        try:
            cached.generate(request)
        except Deferred:
            deferred += 1
    if deferred:
        runner.run(cached)
    return deferred


# --- 1. the minimum cacheable prefix per model -----------------------------------------------------------


def test_fake_caches_a_prefix_only_at_the_models_minimum():
    with FakeAnthropic() as fake:
        below = _usage(fake, "claude-opus-4-5")  # minimum 4096: a ~2k-token prefix is silently not cached
        assert [(u.cache_creation_input_tokens, u.cache_read_input_tokens) for u in below] == [(0, 0), (0, 0)]
        assert below[0].input_tokens > 2000
        above = _usage(fake, "claude-sonnet-4-6")  # minimum 1024
        assert above[0].cache_creation_input_tokens > 2000 and above[0].cache_read_input_tokens == 0
        assert above[1].cache_read_input_tokens == above[0].cache_creation_input_tokens
        assert fake.prompt_cache.below_minimum == 2
    with FakeAnthropic(min_cache_tokens=1024) as fake:  # one minimum for every model (the old behaviour)
        assert _usage(fake, "claude-opus-4-5")[1].cache_read_input_tokens > 2000


def test_shipped_configs_carry_the_documented_minimum_of_their_model():
    table = {
        "claude-opus-4-5": 4096,
        "claude-opus-4-6": 4096,
        "claude-opus-4-7": 2048,
        "claude-opus-4-1-20250805": 1024,
        "claude-3-opus-20240229": 1024,
        "claude-3-5-sonnet-20240620": 1024,
        "claude-sonnet-4-6": 1024,
        "claude-sonnet-5-5": 1024,
        "claude-haiku-4-5-20251001": 4096,
        "claude-3-haiku-20240307": 2048,
        "claude-opus-5-5": 512,
        "claude-mythos-preview": 4096,  # no version in the id: the largest minimum (warn rather than flatter)
    }
    assert {model: default_cache_min_tokens(model) for model in table} == table
    base = yaml.safe_load((conf_dir() / "model" / "anthropic.yaml").read_text())
    for path in sorted((conf_dir() / "model").glob("anthropic*.yaml")):
        cfg = {**base, **yaml.safe_load(path.read_text())}
        assert cfg["cache_min_tokens"] == default_cache_min_tokens(cfg["name"]), path.name
        assert cfg["pricing"]["cache_write_1h"] == 2 * cfg["pricing"]["input"], path.name
    assert cache_min_tokens({"name": "claude-opus-4-5", "cache_min_tokens": 2000}) == 2000
    with pytest.raises(AfxError, match="cache_min_tokens"):
        cache_min_tokens({"name": "x", "cache_min_tokens": 0})


def test_plan_prices_cache_reads_only_when_the_prefix_reaches_the_minimum(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["setting=helpful_only", "model=anthropic_opus_4_5", "data.limit=3", "cache.enabled=false"]
    (below,) = plan(args)  # Opus 4.5: 4096; the helpful_only system prompt is ~3.2k tokens
    (reached,) = plan([*args, "model.cache_min_tokens=1024"])
    (uncached,) = plan([*args, "model.cache_system_prompt=false"])
    assert below.cost_usd == pytest.approx(uncached.cost_usd)
    assert reached.cost_usd < 0.7 * below.cost_usd  # ~3.2k input tokens per call read at 0.1 x
    assert any("below the 4,096-token minimum" in note for note in below.notes)
    assert not any("minimum" in note for note in reached.notes)


def test_plan_prices_batch_cache_writes_at_the_1h_price(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["setting=animal_welfare", "model=anthropic", "data.limit=3", "cache.enabled=false"]
    dear = "model.pricing.cache_write_1h=1000"  # only 1-hour writes cost this much
    (batch,), (batch_dear,) = plan([*args, "model.batch=true"]), plan([*args, "model.batch=true", dear])
    (online,), (online_dear,) = plan(args), plan([*args, dear])
    assert batch_dear.cost_usd > batch.cost_usd + 1  # ~4.4k tokens written once at $1000 / MTok, half price
    assert online_dear.cost_usd == pytest.approx(online.cost_usd)  # online writes are 5-minute ones


def test_a_job_below_the_minimum_warns_once_and_tags_its_run(tmp_path):
    with FakeAnthropic(latency_s=0.002) as fake:
        done = run_afx(
            "-m",
            "setting=helpful_only,animal_welfare",  # ~3.2k and ~4.4k tokens against Opus 4.5's 4096
            "model=anthropic_opus_4_5",
            f"model.base_url={fake.url}",
            "model.max_concurrency=4",
            "data.limit=2",
            "progress=false",
            cwd=tmp_path,
            env={"ANTHROPIC_API_KEY": KEY},
            timeout=300,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    warning = "prompt caching does nothing here"
    job_logs = {p.parent.name: p.read_text() for p in tmp_path.glob("outputs/multirun/*/*/*.log")}
    assert sorted(log.count(warning) for log in job_logs.values()) == [0, 1]  # one job, once
    assert (done.stdout + done.stderr).count(warning) <= 1  # the console shows the same line, if at all
    assert "shorter than the 4096-token minimum" in "".join(job_logs.values())
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("afx").experiment_id
    runs = client.search_runs([experiment], "tags.`afx.kind` = 'job'")
    tags = {r.data.tags["setting"]: r.data.tags["prompt_cache"] for r in runs}
    assert tags == {"helpful_only": "below_minimum", "animal_welfare": "ok"}
    reads = {r.data.tags["setting"]: r.data.metrics["tokens/cache_read"] for r in runs}
    assert reads["helpful_only"] == 0 and reads["animal_welfare"] > 0  # what the fake (and the API) bill


# --- 2. batches: the 1-hour TTL, its price, out-of-order concurrent processing ---------------------------


def test_batch_mode_sends_the_1h_ttl_and_online_mode_the_default():
    request = _requests(1)[0]
    with FakeAnthropic() as fake:
        system = lambda **over: AnthropicBackend(_model(fake, **over)).request_params(request)["system"][0]  # noqa: E731
        assert system()["cache_control"] == {"type": "ephemeral"}
        assert system(batch=True)["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
        assert system(batch=True, batch_cache_ttl="5m")["cache_control"] == {"type": "ephemeral"}
        assert system(cache_ttl="1h")["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
        with pytest.raises(AfxError, match="batch_cache_ttl"):
            AnthropicBackend(_model(fake, batch=True, batch_cache_ttl="24h"))


def test_a_batch_writes_1h_entries_and_its_cost_prices_them(tmp_path):
    with FakeAnthropic(latency_s=0.002, batch_latency_s=0.01) as fake:
        done = run_afx(
            "setting=animal_welfare",
            "model=anthropic",
            f"model.base_url={fake.url}",
            "model.batch=true",
            "model.batch_poll_s=0.02",
            "data.limit=2",
            "progress=false",
            cwd=tmp_path,
            env={"ANTHROPIC_API_KEY": KEY},
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        lines = [line for batch in fake._batches.values() for line in batch["results"]]
    sent = [r["params"]["system"][0]["cache_control"] for b in fake._batches.values() for r in b["requests"]]
    assert sent and all(c == {"type": "ephemeral", "ttl": "1h"} for c in sent)
    writes = [line["result"]["message"]["usage"]["cache_creation"] for line in lines]
    assert sum(w["ephemeral_1h_input_tokens"] for w in writes) > 0
    assert sum(w["ephemeral_5m_input_tokens"] for w in writes) == 0
    (metrics_file,) = tmp_path.glob("outputs/*/*/metrics.json")
    m = json.loads(metrics_file.read_text())["metrics"]
    assert m["tokens/cache_write"] > 0 and m["tokens/cache_read"] > 0
    pricing = yaml.safe_load((conf_dir() / "model" / "anthropic.yaml").read_text())["pricing"]
    expected = (
        (
            m["tokens/input"] * pricing["input"]
            + m["tokens/output"] * pricing["output"]
            + m["tokens/cache_write"] * pricing["cache_write_1h"]  # 1-hour writes: 2 x input, not the 5-minute 1.25 x
            + m["tokens/cache_read"] * pricing["cache_read"]
        )
        / 1e6
        * pricing["batch_discount"]
    )
    assert m["cost/usd"] == pytest.approx(expected)


def test_batch_results_come_out_of_order_and_are_mapped_by_custom_id(tmp_path):
    with FakeAnthropic(reply=_echo, batch_latency_s=0.01) as fake:
        backend, cached, runner, _ = _batch_setup(tmp_path, fake)
        requests = _requests(8)
        assert _round(cached, runner, requests) == 8
        (batch_id,) = fake._batches
        client = anthropic.Anthropic(api_key=KEY, base_url=fake.url, max_retries=0)
        returned = [item.custom_id for item in client.messages.batches.results(batch_id)]
        submitted = [item["custom_id"] for item in fake._batches[batch_id]["requests"]]
        assert sorted(returned) == sorted(submitted) and returned != submitted
        for i, request in enumerate(requests):
            generation, _ = cached.generate(request)  # from the cache now: no new batch
            assert generation.text == f"<OUTPUT>answer to query {i}</OUTPUT>"
        assert fake.count("batches.create") == 1


def test_a_batch_processes_requests_concurrently_so_cache_reads_are_not_flattered(tmp_path):
    with FakeAnthropic(batch_latency_s=0.01, batch_concurrency=8) as fake:
        _, cached, runner, _ = _batch_setup(tmp_path / "a", fake)
        _round(cached, runner, _requests(20))
        per_request = cached.stats.cache_write_tokens / 8
        assert per_request > 2000  # the first wave of 8 wrote the prefix 8 times (sequential: once)
        assert cached.stats.cache_read_tokens == pytest.approx(12 * per_request)


@pytest.mark.parametrize(("ttl", "writes", "reads"), [("1h", 4, 16), ("5m", 20, 0)])
def test_a_long_batch_keeps_1h_entries_and_loses_5m_ones(tmp_path, ttl, writes, reads):
    """20 requests in 5 waves of 4, spread over 30 simulated minutes (6 between waves): a 5-minute entry is gone by
    the next wave, a 1-hour one is read by every later wave."""
    with FakeAnthropic(batch_latency_s=0.01, batch_concurrency=4, batch_span_s=1800) as fake:
        _, cached, runner, _ = _batch_setup(tmp_path, fake, batch_cache_ttl=ttl)
        _round(cached, runner, _requests(20))
        per_request = (cached.stats.cache_write_tokens + cached.stats.cache_read_tokens) / 20
        assert cached.stats.cache_write_tokens == pytest.approx(writes * per_request)
        assert cached.stats.cache_read_tokens == pytest.approx(reads * per_request)


# --- 3. results inside the retry policy; expired and canceled batches ------------------------------------


def test_a_failed_results_download_is_retried_and_counted(tmp_path):
    faults = {0: "500", 1: "drop"}  # a 5xx, then the body cut off halfway, then a clean download
    with FakeAnthropic(reply=_echo, batch_latency_s=0.01, batch_results_fault=lambda _, n: faults.get(n)) as fake:
        _, cached, runner, cache = _batch_setup(tmp_path, fake)
        requests = _requests(6)
        _round(cached, runner, requests)
        assert fake.count("batches.results") == 3 and fake.count("batches.create") == 1
        assert cached.stats.retry_reasons == {"500": 1, "connection": 1}
        assert all(cache.get(cached.key(r)) is not None for r in requests)


def test_a_results_download_that_keeps_failing_stops_with_one_line(tmp_path):
    with FakeAnthropic(batch_latency_s=0.01, batch_results_fault=lambda *_: "500") as fake:
        _, cached, runner, _ = _batch_setup(tmp_path, fake, attempts=2)
        with pytest.raises(AfxError, match="results kept failing"):
            _round(cached, runner, _requests(2))
        assert fake.count("batches.results") == 2  # bounded by max_attempts


def test_an_expired_batch_is_resubmitted_and_ends_as_cached_answers(tmp_path):
    with FakeAnthropic(reply=_echo, batch_latency_s=0.01, expire_batches=1) as fake:
        _, cached, runner, cache = _batch_setup(tmp_path, fake)
        requests = _requests(6)
        assert _round(cached, runner, requests) == 6
        first_id = next(iter(fake._batches))
        client = anthropic.Anthropic(api_key=KEY, base_url=fake.url, max_retries=0)
        counts = client.messages.batches.retrieve(first_id).request_counts
        assert (counts.succeeded, counts.expired) == (3, 3)
        assert cached.stats.retry_reasons == {"batch_expired": 3}
        assert _round(cached, runner, requests) == 3  # the expired ones, in a new batch
        assert _round(cached, runner, requests) == 0
        assert fake.count("batches.create") == 2
        for i, request in enumerate(requests):
            assert cache.get(cached.key(request)).text == f"<OUTPUT>answer to query {i}</OUTPUT>"
        second_id = list(fake._batches)[1]
        before = client.messages.batches.retrieve(second_id)
        time.sleep(0.05)
        after = client.messages.batches.retrieve(second_id)
        assert before.expires_at == after.expires_at == before.created_at + timedelta(hours=24)


def test_a_canceled_batch_is_resubmitted(tmp_path):
    with FakeAnthropic(reply=_echo, batch_latency_s=30.0) as fake:
        _, cached, runner, cache = _batch_setup(tmp_path, fake)
        requests = _requests(4)
        worker = threading.Thread(target=_round, args=(cached, runner, requests))
        worker.start()
        while not fake._batches:
            time.sleep(0.01)
        client = anthropic.Anthropic(api_key=KEY, base_url=fake.url, max_retries=0)
        canceled = client.messages.batches.cancel(next(iter(fake._batches)))  # e.g. from the Console
        worker.join(10)
        assert canceled.cancel_initiated_at is not None and canceled.processing_status == "ended"
        assert cached.stats.retry_reasons == {"batch_canceled": 4}
        fake.batch_latency_s = 0.01
        assert _round(cached, runner, requests) == 4
        assert all(cache.get(cached.key(r)) is not None for r in requests)
