"""Issue 15 item 1: two afx processes started in the same second never share an output folder or MLflow parent run,
and two processes creating a fresh SQLite MLflow store at once do not both run its schema migration."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from afx import run_dirs, tracking

SWEEP = ("-m", "model=simulated", "data.limit=2", "prefix=none,deceptive", "hydra/launcher=joblib")


def _start(args: tuple[str, ...], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AFX_RUN_STAMP", None)
    return subprocess.Popen(
        [sys.executable, "-m", "afx", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=-1, text=True
    )


def _together(args: tuple[str, ...], cwd: Path) -> list[tuple[int, str, str]]:
    """Start two afx processes in the same instant on a fresh folder; (exit code, stdout, stderr) of each."""
    procs = [_start(args, cwd), _start(args, cwd)]
    outputs = [p.communicate(timeout=600) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_two_sweeps_started_together_keep_their_own_folders_and_parent_runs(tmp_path: Path) -> None:
    results = _together(SWEEP, tmp_path)
    for code, _, err in results:
        assert code == 0, err[-2000:]
        assert "duplicate column" not in err
    sweep_dirs = [Path(re.search(r"Results: (\S+)", out)[1]) for _, out, _ in results]
    parents = [re.search(r"parent run (\w+)", out)[1] for _, out, _ in results]
    assert sweep_dirs[0] != sweep_dirs[1] and parents[0] != parents[1]
    assert sorted(p.name for p in (tmp_path / "outputs" / "multirun").iterdir()) == sorted(d.name for d in sweep_dirs)
    for sweep_dir, parent in zip(sweep_dirs, parents, strict=True):
        assert tracking.read_parent_run_id(sweep_dir) == parent
        for job in ("0", "1"):  # every transcript of both jobs survived: 2 queries x 2 tiers
            assert len(_lines(sweep_dir / job / "transcripts.jsonl")) == 4
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("afx").experiment_id
    for parent in parents:
        assert client.get_run(parent).info.status == "FINISHED"
        children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
        assert sorted(r.data.tags["prefix"] for r in children) == ["deceptive", "none"]
        assert {r.info.status for r in children} == {"FINISHED"}
        sweep_ids = {r.data.tags["afx.sweep_id"] for r in children}
        assert sweep_ids == {client.get_run(parent).data.tags["afx.sweep_id"]}


def test_two_single_runs_started_together_write_two_folders(tmp_path: Path) -> None:
    results = _together(("model=simulated", "data.limit=2"), tmp_path)
    for code, _, err in results:
        assert code == 0, err[-2000:]
    runs = sorted((tmp_path / "outputs" / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:
        assert len(_lines(run / "transcripts.jsonl")) == 4
        assert (run / "config.yaml").is_file() and (run / "metrics.json").is_file()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("afx").experiment_id
    finished = client.search_runs([experiment], "attributes.status = 'FINISHED'")
    assert len(finished) == 2


def test_fresh_sqlite_store_opened_by_four_processes_at_once(tmp_path: Path) -> None:
    """Without the lock, MLflow's migration runs twice ("duplicate column name"): seen 2 in 3 rounds of 4."""
    code = "import sys; from afx import tracking; tracking.client(sys.argv[1]).search_experiments()"
    for round_ in range(3):
        uri = f"sqlite:///{tmp_path / str(round_) / 'mlflow.db'}"
        procs = [
            subprocess.Popen([sys.executable, "-c", code, uri], stderr=subprocess.PIPE, text=True) for _ in range(4)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-2000:]
        assert (tmp_path / str(round_) / "mlflow.db.lock").exists()


def test_run_stamp_is_shared_with_workers_but_not_with_other_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(run_dirs.ENV, raising=False)
    own = run_dirs.run_stamp()
    assert own.endswith(f"_{os.getpid()}") and run_dirs.run_stamp() == own
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d+", own)
    # a child process (a joblib worker) resolves its launcher's stamp
    child = subprocess.run(
        [sys.executable, "-c", "from afx.run_dirs import run_stamp; print(run_stamp())"],
        env={**os.environ},
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == own
    # a grandchild (another afx started from a job or a script) makes its own
    inner = "from afx.run_dirs import run_stamp; print(run_stamp())"
    code = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {inner!r}])"
    grandchild = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert grandchild.stdout.strip() != own
    # a stamp left behind by a finished process is not reused
    monkeypatch.setenv(run_dirs.ENV, "2000-01-01_00-00-00_1:1")
    assert run_dirs.run_stamp() != "2000-01-01_00-00-00_1"


def test_afx_started_by_a_process_holding_a_stamp_makes_its_own_folder(tmp_path) -> None:
    """A test or script that resolved a stamp itself (in-process Hydra compose) and then starts `afx` twice
    must get two folders: the launcher never reuses its parent's stamp (two runs would share one folder)."""
    parent = f"2000-01-01_00-00-00_{os.getpid()}"
    env = {**os.environ, run_dirs.ENV: f"{parent}:{os.getpid()}"}
    out = subprocess.run(
        [sys.executable, "-m", "afx", "--cfg", "hydra", "--resolve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    dirs = re.findall(r"dir: (outputs/\S+)", out.stdout)
    assert dirs and all(parent not in d for d in dirs), dirs
    assert any(re.search(r"outputs/runs/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d+", d) for d in dirs), dirs
