"""The Anthropic backend through the real SDK against the loopback fake server: request shape (prefill,
turn mode, prompt caching), retries by reason with retry-after, the attempt cap, and one-line errors."""

from __future__ import annotations

import time

import pytest

from afx.backends.anthropic_api import AnthropicBackend, claude_version, prefill_known_supported
from afx.backends.base import GenerationRequest
from afx.errors import AfxError
from afx.job import build_job_spec
from afx.sampling import BackendFailure, CachedBackend, RetryPolicy, sample_transcript
from afx.testing.fake_anthropic import FakeAnthropic, Faults
from afx.transcript import NEXT, Transcript

KEY = "test-key-not-secret"


@pytest.fixture
def fake():
    with FakeAnthropic(record=True) as server:
        yield server


def _model(fake, **over):
    return {
        "backend": "anthropic",
        "name": "claude-opus-4-5",  # accepts prefill (the 4.6 generation and later do not)
        "api_key_env": "AFX_TEST_KEY",
        "base_url": fake.url,
        "timeout_s": 0.5,
        "verify": True,
        **over,
    }


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("AFX_TEST_KEY", KEY)


def _cached(backend, attempts=4):
    return CachedBackend(backend, None, policy=RetryPolicy(max_attempts=attempts, base_s=0.001, max_s=0.01))


def _sample(compose_cfg, fake, prefix, model_cfg="anthropic_opus_4_5", *extra):
    cfg = compose_cfg(
        "setting=helpful_only", f"prefix={prefix}", f"model={model_cfg}", f"model.base_url={fake.url}", *extra
    )
    spec = build_job_spec(cfg, load_data=False)
    from omegaconf import OmegaConf

    backend = AnthropicBackend(OmegaConf.to_container(cfg.model, resolve=True))
    cached = _cached(backend)
    t = sample_transcript(cached, spec.plan, Transcript("q1", "q", "train", "ho", prefix, "d"), "<INPUT>hi</INPUT>", {})
    return spec, cached, t


def test_prefill_request_is_cached_system_prompt_plus_stripped_prefill(compose_cfg, fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    spec, cached, t = _sample(compose_cfg, fake, "obedient")  # HO obedient: open prefix ending in <DRAFT_OUTPUT>
    first = fake.requests[0]
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["system"][0]["text"] == spec.system_prompt
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    prefill = first["messages"][-1]["content"]
    assert prefill.endswith("<DRAFT_OUTPUT>") and prefill == spec.prefix_text.rstrip()
    assert "temperature" not in first  # 1.0 is the API default; version 2026-10-21 rejects the parameter
    assert t.status == "ok" and t.prefix_text == prefill and t.text.startswith(prefill)
    stats = cached.stats
    assert stats.calls == len(fake.requests) == fake.count("messages", ok=True)
    # Claude Opus 4.5 caches prefixes of 4096 tokens and more: the helpful_only system prompt (~3.2k) is below that,
    # so the API (and the fake) neither writes nor reads it (tests/test_anthropic_cache_batches.py)
    assert stats.cache_write_tokens == 0 and stats.cache_read_tokens == 0 and stats.input_tokens > 0
    assert fake.count("models") == 1  # key and model checked once, before the first request


def test_turn_mode_sends_closed_prefix_as_completed_turn(compose_cfg, fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    spec, _, t = _sample(compose_cfg, fake, "obedient", "anthropic_sonnet_4_6")
    assert spec.plan.prefix_mode == "turn" and spec.plan.prefix_is_own_turn
    first = fake.requests[0]
    roles = [m["role"] for m in first["messages"]]
    assert roles == ["user", "assistant", "user"], "no trailing assistant message: 4.6 models reject prefill"
    closed = first["messages"][1]["content"]
    assert closed.endswith("<DRAFT_OUTPUT>\n</DRAFT_OUTPUT>\n</SCRATCHPAD_REASONING>")
    assert first["messages"][2]["content"] == NEXT
    assert t.status == "ok" and t.turns[0] == closed and t.model_reasoning == []


def test_prefill_on_a_model_that_rejects_it_is_one_clear_error(compose_cfg, fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with pytest.raises(AfxError, match=r"rejects assistant prefill.*prefix_mode=turn"):
        cfg = compose_cfg("model=anthropic_opus_4_5", "model.name=claude-sonnet-4-6", "prefix=deceptive")
        build_job_spec(cfg, False)
    backend = AnthropicBackend(_model(fake, name="claude-opus-4-6", supports_prefill=True))
    request = GenerationRequest("sys", (("user", "hi"),), "<", {"max_tokens": 50}, "k")
    with pytest.raises(AfxError, match=r"claude-opus-4-6 rejects assistant prefill \(HTTP 400"):
        _cached(backend).generate(request)
    assert fake.count("messages") == 1, "a 400 is not retried"


@pytest.mark.parametrize(
    ("model_id", "version", "prefill"),
    [
        ("claude-sonnet-5-5", (5, 5), False),
        ("claude-sonnet-5", (5, 0), False),
        ("claude-opus-4-8", (4, 8), False),
        ("claude-opus-4-7", (4, 7), False),
        ("claude-sonnet-4-6", (4, 6), False),
        ("claude-opus-4-10", (4, 10), False),
        ("claude-fable-5-2", (5, 2), False),
        ("claude-mythos-preview", None, False),  # no readable version: treated as new (no prefill)
        ("claude-opus-4-5", (4, 5), True),
        ("claude-opus-4-5-20251101", (4, 5), True),
        ("claude-sonnet-4-5-20250929", (4, 5), True),
        ("claude-haiku-4-5", (4, 5), True),
        ("claude-sonnet-4-20250514", (4, 0), True),  # a date is not a minor version
        ("claude-opus-4-1", (4, 1), True),
        ("claude-3-opus-20240229", (3, 0), True),
        ("claude-3-5-sonnet-20240620", (3, 5), True),
        ("claude-2.1", (2, 1), True),
        ("anthropic.claude-opus-4-5-20251101-v1:0", (4, 5), True),
        ("claude-opus-4-6@20260205", (4, 6), False),
    ],
)
def test_prefill_capability_is_read_from_the_model_id(fake, model_id, version, prefill):
    assert claude_version(model_id) == version
    assert prefill_known_supported(model_id) is prefill
    assert fake.prefill_rejected(model_id) is not prefill, "the fake answers as the API does"


def test_model_configs_pair_mode_and_capability(compose_cfg):
    """The default model is current and in turn mode; the prefill configs are models that accept prefill."""
    from omegaconf import OmegaConf

    for name, mode in [
        ("anthropic", "turn"),
        ("anthropic_sonnet_4_6", "turn"),
        ("anthropic_opus_4_5", "prefill"),
        ("anthropic_opus_3", "prefill"),
        ("anthropic_sonnet_3_5", "prefill"),
    ]:
        model = OmegaConf.to_container(compose_cfg(f"model={name}").model, resolve=True)
        assert model["prefix_mode"] == mode, name
        flag = model["supports_prefill"]
        accepts = prefill_known_supported(model["name"]) if flag is None else flag
        assert accepts is (mode == "prefill"), name
        assert bool(model["prefill"]["first"]) is (mode == "prefill"), name
        if name in {"anthropic_opus_3", "anthropic_sonnet_3_5"}:  # retired ids: refused unless allow_retired
            with pytest.raises(AfxError, match="retired"):
                AnthropicBackend.validate_config(model, has_prefix=True, check_env=False)
            model["allow_retired"] = True
        AnthropicBackend.validate_config(model, has_prefix=True, check_env=False)
    default = compose_cfg("model=anthropic").model
    assert default.name == "claude-sonnet-5-5" and not prefill_known_supported(default.name)


@pytest.mark.parametrize(
    ("faults", "reasons"),
    [
        pytest.param(["429", "529"], {"429": 1, "529": 1}, id="rate_limit_then_overloaded"),
        pytest.param(["500", "drop"], {"500": 1, "connection": 1}, id="server_error_then_dropped"),
        pytest.param(["slow"], {"timeout": 1}, id="timeout"),
    ],
)
def test_retries_are_counted_by_reason(fake, faults, reasons):
    fake.faults = Faults(fn=lambda body, attempt: faults[attempt] if attempt < len(faults) else None, slow_s=1.0)
    cached = _cached(AnthropicBackend(_model(fake)))
    generation, hit = cached.generate(GenerationRequest("sys", (("user", "hi"),), "<", {"max_tokens": 50}, "k"))
    assert not hit and generation.text
    assert cached.stats.retry_reasons == reasons and cached.stats.retries == len(faults)
    assert fake.count("messages") == len(faults) + 1


def test_retry_after_is_honoured(fake):
    fake.faults = Faults(fn=lambda body, attempt: "429" if attempt == 0 else None, retry_after_s=0.3)
    cached = _cached(AnthropicBackend(_model(fake)))
    start = time.monotonic()
    cached.generate(GenerationRequest("sys", (("user", "hi"),), "", {"max_tokens": 50}, "k"))
    assert time.monotonic() - start >= 0.3


def test_attempts_are_capped(fake):
    fake.faults = Faults(fn=lambda body, attempt: "529")
    cached = _cached(AnthropicBackend(_model(fake)), attempts=3)
    with pytest.raises(BackendFailure, match="529"):
        cached.generate(GenerationRequest("sys", (("user", "hi"),), "", {"max_tokens": 50}, "k"))
    assert fake.count("messages") == 3 and cached.stats.failures == 1 and cached.stats.retries == 2


def test_invalid_key_and_retired_model_are_one_line_before_any_message(fake):
    fake.api_keys = {"the-right-key"}
    with pytest.raises(AfxError, match=r"^AFX_TEST_KEY was rejected by the Anthropic API \(401"):
        _cached(AnthropicBackend(_model(fake))).generate(GenerationRequest("s", (("user", "u"),), "", {}, "k"))
    fake.api_keys = None
    fake.retired_models = {"claude-3-opus-20240229"}
    # an id our table allows through (research access) but the server refuses: the server's 404 is one line too
    backend = AnthropicBackend(
        _model(fake, name="claude-3-opus-20240229", retired="retired 2026-01-05", allow_retired=True)
    )
    with pytest.raises(AfxError, match=r"not available to this key \(404.*retired 2026-01-05"):
        _cached(backend).generate(GenerationRequest("s", (("user", "u"),), "", {}, "k"))
    assert fake.count("messages") == 0


def test_config_errors(fake, monkeypatch):
    monkeypatch.delenv("AFX_TEST_KEY")
    with pytest.raises(AfxError, match=r"^AFX_TEST_KEY is not set"):
        AnthropicBackend.validate_config(_model(fake), has_prefix=False)
    with pytest.raises(AfxError, match="API keys come from the environment only"):
        AnthropicBackend.validate_config(_model(fake, api_key="sk-..."), has_prefix=False, check_env=False)
    with pytest.raises(AfxError, match="rejects temperature, top_p and top_k"):
        AnthropicBackend.validate_config(_model(fake, sampling={"temperature": 0.0}), False, check_env=False)
    AnthropicBackend.validate_config(
        _model(fake, sampling={"temperature": 0.0}, api_version="2023-06-01"), False, check_env=False
    )


def test_legacy_api_version_sends_temperature(fake):
    backend = AnthropicBackend(_model(fake, api_version="2023-06-01"))
    _cached(backend).generate(GenerationRequest("s", (("user", "u"),), "", {"temperature": 0.0}, "k"))
    assert fake.requests[-1]["temperature"] == 0.0
    modern = AnthropicBackend(_model(fake))
    with pytest.raises(AfxError, match="temperature=0.0"):
        _cached(modern).generate(GenerationRequest("s", (("user", "u"),), "", {"temperature": 0.0}, "k2"))


def test_stop_sequence_is_put_back_and_usage_is_reported(fake):
    fake.reply = lambda body: "<SCRATCHPAD_REASONING>a</SCRATCHPAD_REASONING> more"
    backend = AnthropicBackend(_model(fake))
    gen = backend.generate(
        GenerationRequest("s", (("user", "u"),), "", {"stop_sequences": ["</SCRATCHPAD_REASONING>"]}, "k"), 0
    )
    assert gen.text == "<SCRATCHPAD_REASONING>a</SCRATCHPAD_REASONING>" and gen.finish_reason == "stop"
    assert gen.completion_tokens > 0 and gen.prompt_tokens > 0
