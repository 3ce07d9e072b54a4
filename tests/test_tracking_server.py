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
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

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
    assert f"afx: open the UI with:  {server.uri}  (the tracking server's own UI)" in done.stdout
    assert "mlflow ui --backend-store-uri http" not in done.stdout, "a server serves its own UI"
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


class MlflowServer:
    """A plain `mlflow server` on a free port, started in `root` (so MLflow 3's default `./mlartifacts` is there)."""

    def __init__(self, root: Path, *flags: str, timeout: float = 240) -> None:
        self.root = root
        self.uri = f"http://127.0.0.1:{free_port()}"
        port = self.uri.rsplit(":", 1)[1]
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", port, "--workers", "1",
               "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", *flags]  # fmt: skip
        self.log = (root / "server.log").open("wb")
        self.proc = subprocess.Popen(cmd, cwd=root, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        self.stop()
        pytest.fail("mlflow server did not start:\n" + (root / "server.log").read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def proxy_server(tmp_path_factory) -> Iterator[MlflowServer]:
    """`mlflow server` with MLflow 3's defaults: artifacts proxied (`mlflow-artifacts:`) into <root>/mlartifacts."""
    server = MlflowServer(tmp_path_factory.mktemp("proxy-server"))
    yield server
    server.stop()


def _afx(*args: str, cwd: Path, uri: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": uri}
    cmd = [sys.executable, "-m", "afx", *args, "model=simulated", "data.limit=2", "progress=false"]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _printed(stdout: str, label: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith(f"afx: {label}:")]
    assert len(lines) == 1, f"no '{label}' line in:\n{stdout[-2000:]}"
    return lines[0].split(":", 2)[2].strip()


def test_two_machines_log_to_one_server_and_every_file_outlives_their_folders(proxy_server, tmp_path):
    machines = {"a": ["-m", "prefix=none,deceptive"], "b": ["-m", "setting=animal_welfare", "prefix=none,obedient"]}
    folders = {name: tmp_path / name for name in machines}
    for folder in folders.values():
        folder.mkdir()
    procs = {name: _afx(*args, cwd=folders[name], uri=proxy_server.uri) for name, args in machines.items()}
    outputs = {name: proc.communicate(timeout=600) for name, proc in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, outputs[name][1][-3000:]
    for folder in folders.values():
        assert not (folder / "mlruns").exists(), "nothing may be written to a local store or artifact folder"
        shutil.rmtree(folder)

    client = MlflowClient(proxy_server.uri)
    exp = client.get_experiment_by_name("afx")
    assert exp.artifact_location.startswith("mlflow-artifacts:")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([exp.experiment_id])
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("afx.kind") == "sweep"}
    children = [r for r in runs if r.data.tags.get("afx.kind") == "job"]
    assert len(parents) == 2 and len(children) == 4

    # the links each sweep printed name that sweep's own runs, on the server's address
    expected = {
        "a": {("helpful_only", "none"), ("helpful_only", "deceptive")},
        "b": {("animal_welfare", "none"), ("animal_welfare", "obedient")},
    }
    for name, (stdout, _) in outputs.items():
        compare = _printed(stdout, "compare this sweep")
        assert compare.startswith(f"{proxy_server.uri}/#/compare-runs?runs=")
        ids = set(json.loads(parse_qs(compare.split("?", 1)[1])["runs"][0]))
        parent = next(p for p in parents if p in _printed(stdout, "summary figures"))
        assert ids == {r.info.run_id for r in children if r.data.tags["mlflow.parentRunId"] == parent}
        assert {(r.data.tags["setting"], r.data.tags["prefix"]) for r in children if r.info.run_id in ids} == expected[
            name
        ]
        runs_table = f"{proxy_server.uri}/#/experiments/{exp.experiment_id}/runs?workflowType=machine_learning"
        assert _printed(stdout, "runs table") == runs_table

    download = tmp_path / "download"
    for run in children:
        dst = download / run.info.run_id
        dst.mkdir(parents=True)
        for path in ("transcripts.jsonl", "transcripts.html", "metrics.json"):
            client.download_artifacts(run.info.run_id, path, str(dst))
        records = [json.loads(line) for line in (dst / "transcripts.jsonl").read_text().splitlines()]
        assert len(records) == 4 and {r["setting"] for r in records} == {run.data.tags["setting"]}
        assert 'content="afx viewer"' in (dst / "transcripts.html").read_text()
        assert json.loads((dst / "metrics.json").read_text())["metrics"]["gap_pp"] == pytest.approx(
            run.data.metrics["gap_pp"]
        )
    for parent in parents:
        dst = download / parent
        dst.mkdir(parents=True)
        client.download_artifacts(parent, "summary", str(dst))
        for figure in ("fig13.png", "fig14.png", "fig15.png", "fig16.png"):
            assert (dst / "summary" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = proxy_server.root / "mlartifacts"
    assert len(list(stored.rglob("transcripts.html"))) == 4, "the files must be in the server's artifact store"


def test_an_experiment_with_a_local_artifact_folder_is_one_line_before_any_job(proxy_server, tmp_path):
    client = MlflowClient(proxy_server.uri)
    client.create_experiment("old-local", artifact_location=(tmp_path / "old").as_uri())
    for args in (["-m", "prefix=none,deceptive"], []):
        proc = _afx(*args, "tracking.experiment=old-local", cwd=tmp_path, uri=proxy_server.uri)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err[-3000:]
        assert err.strip().splitlines() == [err.strip()] and "Traceback" not in err
        assert err.startswith(f"afx: error: MLflow experiment 'old-local' on {proxy_server.uri} keeps its artifacts")
        assert "tracking.experiment=old-local-shared" in err
        assert not (tmp_path / "outputs").exists(), "nothing may run before the check"
    assert client.search_runs([client.get_experiment_by_name("old-local").experiment_id]) == []


def test_a_server_that_does_not_proxy_artifacts_is_one_line_before_any_job(tmp_path_factory, tmp_path):
    server = MlflowServer(tmp_path_factory.mktemp("plain-server"), "--no-serve-artifacts")
    try:
        proc = _afx("-m", "prefix=none,deceptive", cwd=tmp_path, uri=server.uri)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err[-3000:]
        assert err.strip().splitlines() == [err.strip()] and "Traceback" not in err
        assert err.startswith(f"afx: error: the MLflow server {server.uri} does not serve artifacts")
        assert "--serve-artifacts" in err
        assert not (tmp_path / "outputs").exists()
        assert MlflowClient(server.uri).get_experiment_by_name("afx") is None
        # without the preflight (preflight.reach=false) the job itself refuses, in the same words
        proc = _afx("preflight.reach=false", cwd=tmp_path, uri=server.uri)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err[-3000:]
        assert err.strip().splitlines()[-1].startswith(f"afx: error: the MLflow server {server.uri} does not serve")
        assert "Traceback" not in err
    finally:
        server.stop()
