"""The MLflow UI over a sweep's store, opened in headless Chromium: the comparison view shows every job run."""

from __future__ import annotations

import importlib.util
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from browser import requires_chromium
from helpers import run_afx

pytestmark = [pytest.mark.browser, pytest.mark.server]

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mlflow_ui_check.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("mlflow_ui_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@requires_chromium
def test_compare_view_of_a_sweep_renders_every_run(tmp_path):
    done = run_afx(
        "-m",
        "setting=helpful_only,animal_welfare",
        "model=simulated",
        "data.limit=4",
        "progress=false",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    store = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    out = tmp_path / "compare.png"
    url, dom = _load_script().check(store, out, size="1200,900")
    assert "/#/compare-runs?runs=" in url
    assert "Comparing 2 Runs" in dom
    for name in ("helpful_only/none/default", "animal_welfare/none/default"):
        assert name in dom
    assert "gap_pp" in dom or "af/mean_pct" in dom, "the metrics section must be rendered"
    assert png_size(out) == (1200, 900) and out.stat().st_size > 20_000


def test_script_says_in_one_line_when_there_is_no_sweep(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--store",
            f"sqlite:///{tmp_path / 'empty.db'}",
            "--out",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("mlflow_ui_check: error:") and "Traceback" not in done.stderr
