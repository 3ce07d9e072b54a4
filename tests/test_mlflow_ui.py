"""The MLflow UI over a sweep's store, opened in headless Chromium: the comparison view shows every job run, and
the README's `mlflow ui` command with the links a sweep prints opens on the runs table."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from browser import dump_dom, requires_chromium
from helpers import run_afx

pytestmark = [pytest.mark.browser, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "mlflow_ui_check.py"
JOB_NAMES = ("helpful_only/none/default", "animal_welfare/none/default")


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


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A two-job simulated sweep in its own folder, logged to the default store `<folder>/mlruns/mlflow.db`."""
    cwd = tmp_path_factory.mktemp("sweep")
    done = run_afx(
        "-m", "setting=helpful_only,animal_welfare", "model=simulated", "data.limit=4", "progress=false",
        cwd=cwd, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return cwd, done


@requires_chromium
def test_compare_view_of_a_sweep_renders_every_run(finished_sweep, tmp_path):
    cwd, _ = finished_sweep
    store = f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}"
    out = tmp_path / "compare.png"
    url, dom = _load_script().check(store, out, size="1200,900")
    assert "/#/compare-runs?runs=" in url
    assert "Comparing 2 Runs" in dom
    for name in JOB_NAMES:
        assert name in dom
    assert "gap_pp" in dom or "af/mean_pct" in dom, "the metrics section must be rendered"
    assert png_size(out) == (1200, 900) and out.stat().st_size > 20_000


def readme_ui_command() -> str:
    """The `mlflow ui ...` line of the README's "Using it" block."""
    found = re.findall(r"^mlflow ui --backend-store-uri \S+$", (ROOT / "README.md").read_text(), re.MULTILINE)
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def readme_ui(finished_sweep) -> Iterator[str]:
    """The README's command, run in the sweep's folder ($PWD) on a free port; yields its address."""
    cwd, _ = finished_sweep
    args = shlex.split(readme_ui_command().replace("$PWD", str(cwd)))
    check = _load_script()
    base = f"http://127.0.0.1:{check.free_port()}"
    cmd = [sys.executable, "-m", "mlflow", *args[1:], "--host", "127.0.0.1", "--port", base.rsplit(":", 1)[1]]
    log = (cwd / "ui.log").open("wb")
    server = subprocess.Popen(
        [*cmd, "--workers", "1"], cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        assert check.wait_http(f"{base}/health", 240, server), (cwd / "ui.log").read_text(errors="replace")[-2000:]
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def page_text(dom: str) -> str:
    """The visible text of a dumped page: no scripts, styles, tags or comments; runs of spaces as one."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<!--.*?-->", "", dom, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def printed_link(stdout: str, label: str, base: str) -> str:
    """A link the sweep printed at its end, moved from `mlflow ui`'s default address to the test's port."""
    lines = [line.split(":", 2)[2].strip() for line in stdout.splitlines() if line.startswith(f"afx: {label}:")]
    assert len(lines) == 1, stdout[-2000:]
    assert lines[0].startswith("http://127.0.0.1:5000/#/"), lines[0]
    return base + lines[0].removeprefix("http://127.0.0.1:5000")


@requires_chromium
def test_readme_ui_command_and_the_printed_links_open_the_runs_table(finished_sweep, readme_ui):
    cwd, done = finished_sweep
    client = MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("afx")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    parent = client.search_runs([exp.experiment_id], "tags.`afx.kind` = 'sweep'")[0]

    runs = page_text(dump_dom(printed_link(done.stdout, "runs table", readme_ui), budget_ms=15000))
    assert runs.startswith(f" Runs - Experiment {exp.experiment_id} - MLflow "), runs[:300]
    assert "Run Name" in runs and parent.info.run_name in runs and "3 matching runs" in runs
    assert "No data available for the selected time range" not in runs, "the GenAI overview, not the runs table"

    compare = page_text(dump_dom(printed_link(done.stdout, "compare this sweep", readme_ui), budget_ms=15000))
    assert "Comparing 2 Runs" in compare and all(name in compare for name in JOB_NAMES)

    figures = page_text(dump_dom(printed_link(done.stdout, "summary figures", readme_ui), budget_ms=15000))
    assert parent.info.run_name in figures
    assert all(f"fig{n}.png" in figures for n in (13, 14, 15, 16)), "the parent run's summary figures"


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
