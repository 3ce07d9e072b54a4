"""Issue 15 item 2: secrets never reach MLflow, outputs or logs (afx.redact), and look-alikes stay visible."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from afx import redact, tracking
from helpers import run_afx

# key shape -> secret?  (the tested table; README's error table points here)
KEY_SHAPES = {
    "api_key": True,
    "api-key": True,
    "apikey": True,
    "ApiKey": True,
    "x-api-key": True,
    "model.headers.x-api-key": True,
    "headers.Authorization": True,
    "anthropic_api_key": True,
    "openai_key": True,
    "secret_key": True,
    "credentials": True,
    "private_key": True,
    "auth": True,
    "authorization": True,
    "password": True,
    "db_password": True,
    "secret": True,
    "client_secret": True,
    "token": True,
    "access_token": True,
    "hf_token": True,
    "bearer": True,
    # look-alikes that stay visible
    "max_tokens": False,
    "model.sampling.max_tokens": False,
    "max_tokens_thinking": False,
    "thinking_budget_tokens": False,
    "budget_tokens": False,
    "tokens/input": False,
    "tokens/output": False,
    "tokens/completion": False,
    "bos_token": False,
    "eos_token": False,
    "cache_key": False,
    "sort_key": False,
    "key": False,
    "api_key_env": False,  # the NAME of a variable; its value is scrubbed from text instead
    "token_env": False,
    "prefix_mode": False,
    "tracking.uri": False,
}
SECRET = "SECRETVALUE-4f8a1c"
CREDS = "CREDVALUE-9b27d3"
ENV_KEY = "sk-ant-api03-FAKEfakeFAKE0123456789abcdef"
SHAPED = "sk-proj-ZZZZyyyyXXXXwwww0123"


@pytest.mark.parametrize(("key", "secret"), KEY_SHAPES.items())
def test_key_shapes(key: str, secret: bool) -> None:
    assert redact.is_secret_key(key) is secret


def test_flatten_redacts_secret_keys_and_keeps_token_counts() -> None:
    tree = {
        "model": {
            "sampling": {"max_tokens": 4000, "temperature": 1.0},
            "headers": {"x-api-key": SECRET, "Authorization": f"Bearer {SECRET}"},
            "api_key_env": "AFX_TEST_KEY",
            "credentials": {"user": "me", "pass": CREDS},
            "bos_token": "<s>",
            "note": f"key {SHAPED} here",
        }
    }
    params = tracking.flatten(tree)
    assert params["model.sampling.max_tokens"] == "4000"
    assert params["model.api_key_env"] == "AFX_TEST_KEY"
    assert params["model.bos_token"] == "<s>"
    assert params["model.headers.x-api-key"] == redact.REDACTED
    assert params["model.headers.Authorization"] == redact.REDACTED
    assert params["model.credentials"] == redact.REDACTED
    assert params["model.note"] == f"key {redact.REDACTED} here"
    assert not any(s in str(params) for s in (SECRET, CREDS, SHAPED))


def test_text_scrubbing_env_values_and_key_shaped_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFX_TEST_KEY", "plainsecret-without-shape")
    values = redact.secret_values({"model": {"api_key_env": "AFX_TEST_KEY"}})
    assert values == {"plainsecret-without-shape"}
    text = f"a plainsecret-without-shape b {ENV_KEY} c sk-learn d max_tokens=4000"
    assert redact.scrub_text(text, values) == "a <redacted> b <redacted> c sk-learn d max_tokens=4000"
    assert redact.redact_override(f"+model.headers.x-api-key={SECRET}") == "+model.headers.x-api-key=<redacted>"
    assert redact.redact_override("model.sampling.max_tokens=10") == "model.sampling.max_tokens=10"
    tags = tracking.redact_tags({"auth": "x", "model": f"m {ENV_KEY}", "prefix": "none"})
    assert tags == {"auth": "<redacted>", "model": "m <redacted>", "prefix": "none"}


def test_log_records_are_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFX_TEST_KEY", "plainsecret-in-a-log")
    handler = logging.FileHandler(tmp_path / "job.log")
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redact.install_log_filter(redact.secret_values({"api_key_env": "AFX_TEST_KEY"}))
        log = logging.getLogger("afx.test_redaction")
        log.warning("calling with key %s and %s", "plainsecret-in-a-log", ENV_KEY)
        try:
            raise RuntimeError(f"server said: bad key {ENV_KEY}")
        except RuntimeError:
            log.exception("failed")
        handler.flush()
    finally:
        root.removeHandler(handler)
        handler.close()
    text = (tmp_path / "job.log").read_text()
    assert "calling with key <redacted> and <redacted>" in text and "bad key <redacted>" in text
    assert "plainsecret-in-a-log" not in text and ENV_KEY not in text


def _no_secret_on_disk(root: Path) -> list[Path]:
    """Every file under root that holds one of the secrets (binary files too: the SQLite store)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(s.encode() in data for s in (SECRET, CREDS, ENV_KEY, SHAPED)):
                found.append(path)
    return found


@pytest.mark.parametrize("multirun", [False, True], ids=["run", "multirun"])
def test_secrets_reach_no_file_under_outputs_or_mlruns(tmp_path: Path, multirun: bool) -> None:
    args = [
        "model=simulated",
        "data.limit=2",
        f"+model.headers.x-api-key={SECRET}",
        f"+model.credentials={CREDS}",
        "+model.api_key_env=AFX_TEST_KEY",
        f"+model.note=shaped-{SHAPED}",
    ]
    if multirun:
        args = ["-m", *args, "prefix=none,deceptive"]
    done = run_afx(*args, cwd=tmp_path, env={"AFX_TEST_KEY": ENV_KEY})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "outputs").is_dir() and (tmp_path / "mlruns" / "mlflow.db").is_file()
    assert _no_secret_on_disk(tmp_path / "outputs") == []
    assert _no_secret_on_disk(tmp_path / "mlruns") == []
    assert not any(s in done.stdout + done.stderr for s in (SECRET, CREDS, ENV_KEY, SHAPED))

    # Hydra's own files stay valid YAML with the override and the key redacted, the rest intact
    config_file = sorted(tmp_path.glob("outputs/**/.hydra/config.yaml"))[0]
    overrides = yaml.safe_load((config_file.parent / "overrides.yaml").read_text())
    assert "+model.headers.x-api-key=<redacted>" in overrides and "+model.api_key_env=AFX_TEST_KEY" in overrides
    model = yaml.safe_load(config_file.read_text())["model"]
    assert model["headers"] == {"x-api-key": "<redacted>"} and model["sampling"]["max_tokens"] == 4000

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("afx").experiment_id
    jobs = [r for r in client.search_runs([experiment]) if r.data.tags.get("afx.kind") == "job"]
    assert len(jobs) == (2 if multirun else 1)
    for job in jobs:
        params = job.data.params
        assert params["model.sampling.max_tokens"] == "4000"
        assert params["model.api_key_env"] == "AFX_TEST_KEY"
        assert params["model.headers.x-api-key"] == "<redacted>" and params["model.credentials"] == "<redacted>"
        assert params["model.note"] == "shaped-<redacted>"
        (tmp_path / job.info.run_id).mkdir()
        artifact = Path(client.download_artifacts(job.info.run_id, "config.yaml", str(tmp_path / job.info.run_id)))
        logged = yaml.safe_load(artifact.read_text())["model"]
        assert logged["headers"]["x-api-key"] == "<redacted>" and logged["sampling"]["max_tokens"] == 4000
