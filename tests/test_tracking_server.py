"""A shared MLflow tracking server started by scripts/mlflow_server.py, and sweeps logging to it over HTTP."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from helpers import run_afx

pytestmark = pytest.mark.server

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mlflow_server.py"
PG_BIN = Path(os.environ.get("AFX_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """scripts/mlflow_server.py in the background; `uri` is what it told us to export."""

    def __init__(self, *args: str, timeout: float = 120) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        self.output: list[str] = []
        self.uri = ""
        deadline = time.monotonic() + timeout
        while not self.uri and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.output.append(line)
            if line.startswith("export MLFLOW_TRACKING_URI="):
                self.uri = line.split("=", 1)[1].strip()
        if not self.uri:
            self.stop()
            pytest.fail("mlflow_server.py did not start:\n" + "".join(self.output)[-3000:])

    def _pump(self, lines: queue.Queue) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            lines.put(line)
        lines.put(None)

    def stop(self) -> int | None:
        """SIGTERM, as Ctrl-C would: the script stops the server (and PostgreSQL) itself."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode


@pytest.fixture(scope="module")
def sqlite_sweep(tmp_path_factory) -> Iterator[tuple[Server, Path, Path, subprocess.CompletedProcess[str]]]:
    root = tmp_path_factory.mktemp("server")
    server = Server("--root", str(root), "--port", str(free_port()), "--workers", "1")
    try:
        assert server.uri.startswith("http://127.0.0.1:")
        cwd = tmp_path_factory.mktemp("client")
        done = run_afx(
            "-m",
            "prefix=none,deceptive",
            "model=simulated",
            "data.limit=4",
            "progress=false",
            f"hydra.sweep.dir={cwd / 'sweep'}",
            cwd=cwd,
            env={"MLFLOW_TRACKING_URI": server.uri},
            timeout=300,
        )
        yield server, root, cwd, done
    finally:
        assert server.stop() == 0, "".join(server.output)[-2000:]


def test_a_sweep_logs_its_runs_to_the_server(sqlite_sweep):
    server, root, cwd, done = sqlite_sweep
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (cwd / "mlruns" / "mlflow.db").exists(), "nothing may go to a local store when a server is set"
    assert f"mlflow ui --backend-store-uri {server.uri}" in done.stdout
    client = MlflowClient(server.uri)
    exp = client.get_experiment_by_name("afx")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("afx.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("afx.kind") == "job"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 2 and all(r.info.status == "FINISHED" for r in children)
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert {r.data.tags["prefix"] for r in children} == {"none", "deceptive"}
    local = {
        OmegaConf.load(p.parent / "config.yaml").prefix.name: json.loads(p.read_text())["metrics"]
        for p in (cwd / "sweep").glob("*/metrics.json")
    }
    for run in children:
        assert run.data.metrics["train/n_total"] == 4 and "gap_pp" in run.data.metrics
        assert run.data.params["model.backend"] == "simulated"
        assert local[run.data.tags["prefix"]]["gap_pp"] == pytest.approx(run.data.metrics["gap_pp"])
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"transcripts.jsonl", "metrics.json", "config.yaml"} <= names
    assert (root / "mlflow.db").is_file()


def test_artifacts_are_uploaded_through_the_server(sqlite_sweep):
    server, root, _, done = sqlite_sweep
    assert done.returncode == 0
    exp = MlflowClient(server.uri).get_experiment_by_name("afx")
    assert exp.artifact_location.startswith("mlflow-artifacts:")
    assert list((root / "artifacts").rglob("transcripts.jsonl"))


def test_script_refuses_a_port_in_use_with_one_clear_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--root", str(tmp_path), "--port", str(port), "--timeout", "30"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2 and f"mlflow_server: error: port {port} on 127.0.0.1 is already in use" in done.stderr


def _postgres_missing() -> str | None:
    if not (PG_BIN / "initdb").is_file():
        return f"PostgreSQL 15 not installed ({PG_BIN / 'initdb'} missing)"
    if not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        return "no PostgreSQL driver in this environment: pip install 'psycopg[binary]'"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser (PostgreSQL must run as the postgres user)"
    return None


@pytest.mark.skipif(_postgres_missing() is not None, reason=str(_postgres_missing()))
def test_postgres_backed_server_takes_a_run(tmp_path):
    # a directory the postgres user can enter (pytest's tmp dirs are private to root)
    pg_root = Path(tempfile.mkdtemp(prefix="afx-pg-"))
    pg_root.chmod(0o755)
    server = Server("--backend", "postgres", "--root", str(pg_root), "--port", str(free_port()),
                    "--pg-port", str(free_port()), "--workers", "1")  # fmt: skip
    try:
        assert "postgres store postgresql+psycopg" in "".join(server.output)
        done = run_afx(
            "model=simulated", "data.limit=2", "progress=false", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": server.uri}
        )
        assert done.returncode == 0, done.stderr[-3000:]
        client = MlflowClient(server.uri)
        runs = client.search_runs([client.get_experiment_by_name("afx").experiment_id])
        assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].data.metrics["train/n_total"] == 2
    finally:
        code = server.stop()
        shutil.rmtree(pg_root, ignore_errors=True)
    assert code == 0, "".join(server.output)[-2000:]
    assert subprocess.run(["pgrep", "-f", f"postgres -D {pg_root}"], capture_output=True).returncode == 1, (
        "PostgreSQL must be stopped with the server"
    )
