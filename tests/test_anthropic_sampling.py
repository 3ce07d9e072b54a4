"""Sampling parameters per model (issue 17, section 4): Claude Opus 4.7 and later (and ids whose version cannot be
read) answer HTTP 400 to a non-default temperature, top_p or top_k under any API version. afx refuses them in
preflight in one line, in the backend per request (a judge's temperature), and the fake answers 400 the same way."""

from __future__ import annotations

import anthropic
import pytest

from afx.backends.anthropic_api import AnthropicBackend, sampling_known_supported
from afx.backends.base import GenerationRequest
from afx.errors import AfxError
from afx.sampling import CachedBackend
from afx.testing.fake_anthropic import FakeAnthropic
from helpers import run_afx

LEGACY = "2023-06-01"
PER_MODEL = r"Claude Opus 4\.7 and later models .* answer HTTP 400 to non-default temperature, top_p or top_k"


@pytest.fixture
def fake():
    with FakeAnthropic(record=True) as server:
        yield server


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("AFX_TEST_KEY", "test-key-not-secret")


def _model(fake, name: str, **over) -> dict:
    return {"backend": "anthropic", "name": name, "api_key_env": "AFX_TEST_KEY", "base_url": fake.url, **over}


@pytest.mark.parametrize(
    ("model_id", "takes"),
    [
        ("claude-3-5-sonnet-20240620", True),
        ("claude-opus-4-5", True),
        ("claude-sonnet-4-6", True),
        ("claude-opus-4-7", False),
        ("claude-opus-4-8", False),
        ("claude-sonnet-5", False),
        ("claude-sonnet-5-5", False),
        ("claude-nova-experimental", False),
    ],
)
def test_which_models_take_sampling_parameters(model_id, takes):
    assert sampling_known_supported(model_id) is takes


@pytest.mark.parametrize(
    "sampling", [{"temperature": 0.0}, {"temperature": 0.5}, {"top_p": 0.9}, {"top_k": 40}], ids=str
)
def test_preflight_refuses_them_on_current_models_whatever_the_api_version(fake, sampling):
    with pytest.raises(AfxError, match=PER_MODEL):
        AnthropicBackend.validate_config(
            _model(fake, "claude-sonnet-5-5", sampling=sampling, api_version=LEGACY), False, check_env=False
        )
    AnthropicBackend.validate_config(  # an older model under the legacy header takes them
        _model(fake, "claude-opus-4-5", sampling=sampling, api_version=LEGACY), False, check_env=False
    )
    AnthropicBackend.validate_config(  # the override for a model whose id says nothing
        _model(fake, "claude-nova-experimental", sampling=sampling, api_version=LEGACY, supports_sampling_params=True),
        False,
        check_env=False,
    )


def test_the_default_temperature_passes_everywhere(fake):
    AnthropicBackend.validate_config(
        _model(fake, "claude-sonnet-5-5", sampling={"temperature": 1.0}, api_version=LEGACY), False, check_env=False
    )


def test_a_judges_temperature_is_refused_per_request_before_sending(fake):
    backend = AnthropicBackend(_model(fake, "claude-sonnet-5-5", api_version=LEGACY))
    with pytest.raises(AfxError, match=PER_MODEL):
        CachedBackend(backend, None).generate(GenerationRequest("s", (("user", "u"),), "", {"temperature": 0.0}, "k"))
    assert fake.count("messages") == 0


@pytest.mark.parametrize(("model_id", "status"), [("claude-sonnet-5-5", 400), ("claude-opus-4-5", 200)])
def test_the_fake_answers_400_per_model_under_any_api_version(fake, model_id, status):
    client = anthropic.Anthropic(
        api_key="k", base_url=fake.url, max_retries=0, default_headers={"anthropic-version": LEGACY}
    )
    call = {"model": model_id, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    if status == 400:
        with pytest.raises(anthropic.BadRequestError, match="temperature` is deprecated for this model"):
            client.messages.create(**call, extra_body={"temperature": 0.2})
    else:
        assert client.messages.create(**call, extra_body={"temperature": 0.2}).content
    assert client.messages.create(**call, extra_body={"temperature": 1.0}).content  # the default is accepted


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("model=anthropic", f"model.api_version={LEGACY}", "model.sampling.temperature=0.7"), id="model"),
        pytest.param(
            (
                "model=simulated",
                "classifier=llm_judge",
                "classifier.temperature=0",
                f"classifier.judge.api_version={LEGACY}",
            ),
            id="judge",
        ),
    ],
)
def test_cli_refuses_in_one_line_before_any_call(tmp_path, fake, args):
    proc = run_afx(
        *args,
        f"model.base_url={fake.url}" if "model=anthropic" in args else f"classifier.judge.base_url={fake.url}",
        "data.limit=2",
        "progress=false",
        cwd=tmp_path,
        env={"ANTHROPIC_API_KEY": "k"},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = [x for x in proc.stderr.strip().splitlines() if x.strip()][-1]
    assert last.startswith("afx: error: ") and "claude-sonnet-5-5" in last and "Opus 4.7 and later" in last, last
    assert fake.count("messages") == 0
