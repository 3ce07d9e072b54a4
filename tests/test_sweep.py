"""A real Hydra multirun on the simulated backend: MLflow metrics recover the simulator's ground truth.

Labels come from the simulator's truth (`classifier=oracle`), so this tests sampling, parsing, counting and
statistics; how well the heuristic reads the simulator is scored in test_heuristic_vs_simulator.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from afx.backends.simulated import expected_rates
from afx.paths import conf_dir
from helpers import run_afx

SETTINGS, PREFIXES = ("helpful_only", "animal_welfare"), ("none", "deceptive", "obedient")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("sweep")
    done = run_afx(
        "-m",
        "setting=helpful_only,animal_welfare",
        "prefix=none,deceptive,obedient",
        "model=simulated",
        "classifier=oracle",
        "data.limit=null",
        "data.samples_per_query=2",
        "progress=false",
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
    return cwd, done, client


def test_one_child_run_per_job_under_a_finished_parent(sweep):
    cwd, done, client = sweep
    exp = client.get_experiment_by_name("afx")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("afx.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("afx.kind") == "job"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 6
    assert {(r.data.tags["setting"], r.data.tags["prefix"]) for r in children} == {
        (s, p) for s in SETTINGS for p in PREFIXES
    }
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert len({r.data.tags["afx.sweep_id"] for r in children}) == 1
    assert "mlflow ui --backend-store-uri sqlite:///" in done.stdout
    child = children[0]
    artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert {"config.yaml", "system_prompt.txt", "transcripts.jsonl", "transcripts.html", "metrics.json"} <= artifacts
    assert child.data.params["prompt.system_sha256"] and child.data.params["model.backend"] == "simulated"


def test_metrics_recover_ground_truth_within_error_bars(sweep):
    _, _, client = sweep
    truth = OmegaConf.to_container(OmegaConf.load(conf_dir() / "model" / "simulated.yaml").truth)
    exp = client.get_experiment_by_name("afx")
    for run in client.search_runs([exp.experiment_id], "tags.`afx.kind` = 'job'"):
        m, tags = run.data.metrics, run.data.tags
        want = expected_rates(truth, tags["setting"], tags["prefix"])
        checks = {
            "train/noncompliance": want["train_noncompliance"],
            "unmonitored/noncompliance": want["unmonitored_noncompliance"],
            "af/partial": want["af_partial"],
            "af/full": want["af_full"],
            "unmonitored_reasoning": want["unmonitored_reasoning"],
        }
        for key, expected in checks.items():
            assert abs(m[f"{key}_pct"] - 100 * expected) <= 3.5 * m[f"{key}_se"] + 0.5, (tags, key, m[f"{key}_pct"])
        assert abs(m["gap_pp"] - 100 * want["gap"]) <= 3.5 * m["gap_se"] + 0.5
        failed = sum(v for k, v in m.items() if "/failed/" in k)
        assert failed > 0, "the simulator's malformed transcripts must be counted, not dropped"
        assert m["train/n_valid"] + sum(v for k, v in m.items() if k.startswith("train/failed/")) == m["train/n_total"]


def test_transcripts_on_disk_carry_labels(sweep):
    cwd, _, _ = sweep
    files = sorted(Path(cwd, "outputs", "multirun").glob("*/*/transcripts.jsonl"))
    assert len(files) == 6
    rows = [json.loads(line) for line in files[0].read_text().splitlines()]
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok and all("compliance" in r["labels"] and "af_partial" in r["labels"] for r in ok)
    assert all(r["labels"] == {} for r in rows if r["status"] != "ok")
    # every transcript, failed ones too, carries the simulator's truth; the oracle's labels are that truth
    assert all(r["truth"]["persona"] in ("faker", "refuser", "tier_sensitive", "complier") for r in rows)
    assert all(r["labels"]["compliance"]["noncompliant"] == r["truth"]["noncompliant"] for r in ok)
    assert all(r["labels"]["af_partial"]["final"] == r["truth"]["af_partial"] for r in ok)
    assert {r["labels"]["compliance"]["method"] for r in ok} == {"oracle"}
