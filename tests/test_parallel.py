"""Parallel jobs on one machine: processes sharing the response cache and the MLflow store (hydra/launcher=joblib)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import submitit
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.experimental.callback import Callback
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from afx import run_dirs, tracking
from afx.backends.base import Generation
from afx.cache import ResponseCache, shard_dir, shard_files
from afx.paths import conf_dir
from helpers import run_afx

WRITERS, SHARED, OWN = 4, 300, 150


def _writer(path: str, index: int, barrier: Any, out: Any, shard: bool) -> None:
    """One process: open the cache at the same moment as the others, write shared and own keys, read them back."""
    barrier.wait()
    cache = ResponseCache(path, shard=shard)  # the first writers race to create the file, switch it to WAL, ...
    keys = [f"shared-{j}" for j in range(SHARED)] + [f"own-{index}-{j}" for j in range(OWN)]
    random.Random(index).shuffle(keys)
    for key in keys:
        cache.put(key, "test", Generation(f"{key} by writer {index}"))
    missing = [k for k in keys if cache.get(k) is None]
    cache.close()
    out.put((index, missing))


@pytest.mark.parametrize("shard", [False, True], ids=["direct", "write shards"])
def test_concurrent_processes_write_every_entry_exactly_once(tmp_path, shard):
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(WRITERS), ctx.Queue()
    path = tmp_path / "cache" / "responses.sqlite"
    procs = [ctx.Process(target=_writer, args=(str(path), i, barrier, out, shard)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS, "a writer failed (see its traceback above)"
    results = dict(out.get(timeout=10) for _ in procs)
    assert results == {i: [] for i in range(WRITERS)}, "a writer could not read back what it wrote"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = db.execute("SELECT key, text FROM responses").fetchall()
    keys = [k for k, _ in rows]
    expected = {f"shared-{j}" for j in range(SHARED)} | {f"own-{i}-{j}" for i in range(WRITERS) for j in range(OWN)}
    assert len(keys) == len(expected) and set(keys) == expected, "every entry present exactly once"
    for key, text in rows:  # each entry is one writer's whole response, never a mix
        assert text.startswith(key + " by writer ") and text[-1].isdigit()
    own_texts = {k: t for k, t in rows if k.startswith("own-")}
    assert all(t.endswith(f"writer {k.split('-')[1]}") for k, t in own_texts.items())
    assert shard_files(path) == [], "every write shard was folded in and deleted"


class PidCallback(Callback):
    """Records which process ran each job (used through `+hydra.callbacks.pid._target_=test_parallel.PidCallback`)."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        out = Path(config.hydra.runtime.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "pid.txt").write_text(str(os.getpid()))


JOBLIB_ARGS = (
    "-m",
    "setting=helpful_only,animal_welfare",
    "prefix=none,deceptive",
    "model=simulated",
    "model.delay_s=0.002",
    "data.limit=10",
    "progress=false",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
    "+hydra.callbacks.pid._target_=test_parallel.PidCallback",
)


def test_joblib_multirun_runs_jobs_in_two_processes_under_one_parent_run(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    sweep = tmp_path / "sweep"
    done = run_afx(*JOBLIB_ARGS, f"hydra.sweep.dir={sweep}", cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in done.stdout + done.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == 4
    pids = {int((j / "pid.txt").read_text()) for j in jobs}
    assert len(pids) >= 2, "jobs must run in (at least) two worker processes"
    # the MLflow store: one finished parent, one finished child per job, all holding their metrics
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("afx")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("afx.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("afx.kind") == "job"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert (sweep / "mlflow_parent_run_id").read_text().strip() == parents[0].info.run_id
    assert len(children) == 4 and all(r.info.status == "FINISHED" for r in children)
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert {(r.data.tags["setting"], r.data.tags["prefix"]) for r in children} == {
        (s, p) for s in ("helpful_only", "animal_welfare") for p in ("none", "deceptive")
    }
    for run in children:
        m = run.data.metrics
        assert {"train/noncompliance_pct", "unmonitored/noncompliance_pct", "calls/model"} <= set(m)
        assert m["train/n_total"] == m["unmonitored/n_total"] == 10
    # the shared response cache: every call of every job stored once, written through shards (cache.shards=auto
    # under a parallel launcher) that were all folded in when their jobs ended
    metrics = [json.loads((j / "metrics.json").read_text())["metrics"] for j in jobs]
    cache = tmp_path / "outputs" / "cache" / "responses.sqlite"
    assert shard_dir(cache).is_dir() and list(shard_dir(cache).iterdir()) == []
    db = sqlite3.connect(cache)
    assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == sum(m["calls/model"] for m in metrics)
    assert sum(m["calls/cache_hits"] for m in metrics) == 0


def test_submitit_local_launcher_runs_the_sweep_under_one_parent(tmp_path):
    """The SLURM path's launcher plugin (hydra-submitit-launcher, in the `test` extra) on its local executor."""
    sweep = tmp_path / "sweep"
    args = ("-m", "prefix=none,deceptive", "model=simulated", "data.limit=4", "progress=false")
    done = run_afx(
        *args, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", f"hydra.sweep.dir={sweep}", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    parent = (sweep / "mlflow_parent_run_id").read_text().strip()
    assert client.get_run(parent).info.status == "FINISHED"
    children = client.search_runs([client.get_experiment_by_name("afx").experiment_id], "tags.`afx.kind` = 'job'")
    assert len(children) == 2 and all(r.data.tags["mlflow.parentRunId"] == parent for r in children)
    assert all(r.info.status == "FINISHED" and "gap_pp" in r.data.metrics for r in children)


def test_afx_slurm_launcher_config_composes_into_a_valid_sbatch_script(tmp_path, monkeypatch):
    """conf/hydra/launcher/afx_slurm.yaml through Hydra's compose API and submitit's own SLURM parameter checks and
    sbatch script writer (a stand-in `srun` on PATH: no cluster here); the shared tracking server and PostgreSQL
    cache reach every job."""
    server, cache_url = "http://mlflow.test:5000", "postgresql+psycopg://afx@db.test:5432/afx_cache"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("AFX_CACHE_URL", cache_url)
    monkeypatch.delenv(run_dirs.ENV, raising=False)  # the sweep dir's stamp is set while resolving: undone after
    run_dirs.register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["hydra/launcher=afx_slurm", "model=simulated", "hydra.launcher.partition=cpu"],
            return_hydra_config=True,
        )
    GlobalHydra.instance().clear()
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert isinstance(launcher, dict)
    assert launcher["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    expected = {"partition": "cpu", "timeout_min": 240, "cpus_per_task": 4, "mem_gb": 8, "array_parallelism": 32}
    assert {k: launcher[k] for k in expected} == expected
    assert launcher["max_num_timeout"] == 2 and launcher["setup"] == []
    exported = f"ALL,MLFLOW_TRACKING_URI={server},AFX_CACHE_URL={cache_url}"
    assert launcher["additional_parameters"] == {"export": exported}
    # the job config: the cache in PostgreSQL; the tracking server through MLFLOW_TRACKING_URI
    assert cfg.cache.url == cache_url
    assert tracking.tracking_uri(tmp_path, cfg.tracking.uri) == server

    # submitit's SLURM executor, given the parameters the way the launcher hands them over, writes the script
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=tmp_path / "submitit", slurm_max_num_timeout=launcher["max_num_timeout"]
    )
    generic = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(  # raises on a key submitit does not know
        **{
            k if k in generic else f"slurm_{k}": v
            for k, v in launcher.items()
            if k not in ("submitit_folder", "max_num_timeout", "_target_")
        }
    )
    script = executor._executor._make_submission_file_text("python -m afx", "uid")
    for line in (
        "#SBATCH --partition=cpu",
        "#SBATCH --time=240",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8GB",
        f"#SBATCH --export={exported}",
        "#SBATCH --signal=USR2@120",
    ):
        assert line in script.splitlines(), script
