"""The per-call fast paths of the API client and the fake server give the same results as the plain ones:
the memoised cache key, the Message read from the raw JSON, the SDK's tracing option, and the fake's lean HTTP."""

from __future__ import annotations

import hashlib
import http.client
import json
import random

import anthropic
import pytest

from afx.backends.anthropic_api import AnthropicBackend, _otel_option
from afx.backends.base import GenerationRequest
from afx.cache import request_key
from afx.testing.fake_anthropic import FakeAnthropic


def _plain_key(identity, request) -> str:
    """The cache key as it was always computed (the definition the memoised form must match byte for byte)."""
    payload = {
        "model": identity,
        "params": dict(request.params),
        "system": request.system,
        "messages": [list(m) for m in request.messages],
        "prefill": request.prefill,
        "sample_key": request.sample_key,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _text(rng: random.Random, n: int) -> str:
    alphabet = 'abc XYZ<>/\n\t"\\\x00\x1f\u2028éü€😀{}:,'
    return "".join(rng.choice(alphabet) for _ in range(n))


def test_cache_key_is_unchanged_by_the_memoised_system_prompt():
    rng = random.Random(7)
    for i in range(400):
        system = _text(rng, rng.randint(0, 400)) if i % 5 else ""
        identity = {"backend": "anthropic", "model": _text(rng, 6), **({"base_url": "http://x"} if i % 2 else {})}
        params = {"max_tokens": rng.randint(1, 9), "temperature": 1.0, "stop_sequences": [_text(rng, 3)]}
        messages = tuple((rng.choice(("user", "assistant")), _text(rng, rng.randint(0, 60))) for _ in range(3))
        request = GenerationRequest(system, messages, _text(rng, 2), params, _text(rng, 5), {"meta": i})
        assert request_key(identity, request) == _plain_key(identity, request)
    odd = GenerationRequest(None, (("user", "u"),), "", {}, "k")  # type: ignore[arg-type]
    assert request_key({"m": 1}, odd) == _plain_key({"m": 1}, odd)


def test_message_json_and_sdk_object_parse_alike(monkeypatch):
    monkeypatch.setenv("AFX_TEST_KEY", "k")
    backend = AnthropicBackend({"name": "claude-sonnet-5-5", "api_key_env": "AFX_TEST_KEY", "verify": False})
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": "<SCRATCHPAD_REASONING>a"}, {"type": "text", "text": " b"}],
        "stop_reason": "stop_sequence",
        "stop_sequence": "</SCRATCHPAD_REASONING>",
        "usage": {
            "input_tokens": 12,
            "output_tokens": 5,
            "cache_read_input_tokens": 3000,
            "cache_creation_input_tokens": 0,
        },
    }
    from_json = backend.parse(body)
    from_sdk = backend.parse(anthropic.types.Message.model_validate(body))
    assert from_json == from_sdk
    assert from_json.text == "<SCRATCHPAD_REASONING>a b</SCRATCHPAD_REASONING>" and from_json.finish_reason == "stop"
    assert (from_json.prompt_tokens, from_json.completion_tokens, from_json.cache_read_tokens) == (12, 5, 3000)
    truncated = backend.parse({**body, "stop_reason": "max_tokens", "stop_sequence": None, "usage": {}})
    assert truncated.finish_reason == "length" and truncated.prompt_tokens == 0


@pytest.mark.parametrize(
    ("value", "option"),
    [(False, False), (None, None), (True, {}), ({"propagation": False}, {"propagation": False})],
)
def test_open_telemetry_option(value, option):
    assert _otel_option(value) == option


def test_fake_server_keeps_the_connection_and_answers_in_one_piece():
    with FakeAnthropic() as fake:
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        body = json.dumps(
            {"model": "claude-sonnet-5-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
        )
        for _ in range(3):  # three requests on one keep-alive connection
            conn.request("POST", "/v1/messages", body, {"x-api-key": "k", "content-type": "application/json"})
            response = conn.getresponse()
            payload = json.loads(response.read())
            assert response.status == 200 and payload["type"] == "message"
            assert response.getheader("request-id", "").startswith("req_")
        conn.request("GET", "/v1/models/claude-sonnet-5-5", headers={"X-Api-Key": "k"})  # header names: any case
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["id"] == "claude-sonnet-5-5"
        conn.request("GET", "/_fake/cpu")  # the benchmarks' probe: not an API route, not counted
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["process_cpu_s"] > 0
        conn.request("DELETE", "/v1/messages", headers={"x-api-key": "k"})
        response = conn.getresponse()
        assert response.status == 405 and json.loads(response.read())["type"] == "error"
        conn.request("GET", "/v1/models", headers={"x-api-key": "k", "connection": "close"})
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("connection") == "close"
        response.read()
        conn.close()
        assert fake.count("messages", ok=True) == 3 and fake.count("models") == 2
