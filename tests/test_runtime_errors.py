"""Errors a user meets at run time: one clear line, non-zero exit, nothing stored is lost."""

from __future__ import annotations

import pytest

from afx.backends.base import Generation
from afx.cache import ResponseCache
from afx.errors import AfxError


def test_corrupt_cache_file_is_one_line(afx_cli, tmp_path):
    cache = tmp_path / "outputs" / "cache" / "responses.sqlite"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"this is not a sqlite database" * 100)
    done = afx_cli("model=simulated", "data.limit=1", "progress=false")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"afx: error: response cache {cache} cannot be opened")


def test_unwritable_mlflow_store_is_one_line(afx_cli, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    done = afx_cli(
        "model=simulated",
        "data.limit=1",
        "progress=false",
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{blocker}/mlflow.db"},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "afx: error: MLflow store sqlite:///" in done.stderr.strip().splitlines()[-1]


def test_full_cache_stops_cleanly_and_keeps_what_was_stored(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite", max_mb=0.05)
    stored = 0
    with pytest.raises(AfxError, match="cannot write the response cache .* full"):
        for i in range(10_000):
            cache.put(f"k{i}", "x", Generation("y" * 2000))
            stored += 1
    reopened = ResponseCache(tmp_path / "c.sqlite")
    assert stored > 0 and len(reopened) == stored
    assert reopened.get("k0").text == "y" * 2000


def test_cache_max_mb_caps_the_jobs_cache(afx_cli, tmp_path):
    done = afx_cli("model=simulated", "data.limit=40", "progress=false", "cache.max_mb=0.03")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("afx: error: cannot write the response cache") and "cache.max_mb reached" in last
