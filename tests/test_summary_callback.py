"""The summary's two entry points: the Hydra callback called directly (success, loud failure, a multirun
that dies half-way) and `afx summary` over a sweep, an MLflow filter, or nothing at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from mlflow.tracking import MlflowClient

from afx import tracking
from afx.paths import conf_dir
from afx_summary import SummaryCallback, load
from helpers import run_afx


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A small real multirun with the summary callback switched off (the tests call it themselves)."""
    cwd = tmp_path_factory.mktemp("summary_cb")
    done = run_afx(
        "-m",
        "setting=helpful_only,animal_welfare",
        "model=simulated",
        "data.limit=40",
        "hydra.callbacks.summary.enabled=false",
        "progress=false",
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "afx summary" not in done.stdout
    (sweep_dir,) = sorted((cwd / "outputs" / "multirun").iterdir())
    return cwd, sweep_dir


def client_of(cwd: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")


def multirun_config(sweep_dir: Path, *overrides: str):
    """The config Hydra hands to on_multirun_end (with its hydra node), composed for this sweep dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose("config", overrides=[f"hydra.sweep.dir={sweep_dir}", *overrides], return_hydra_config=True)


def test_on_multirun_end_called_directly_summarises_into_the_sweep_and_its_parent(sweep, monkeypatch, capsys):
    cwd, sweep_dir = sweep
    monkeypatch.chdir(cwd)
    shutil.rmtree(sweep_dir / "summary", ignore_errors=True)
    SummaryCallback(n_boot=200, formats=["png"]).on_multirun_end(config=multirun_config(sweep_dir))
    out = capsys.readouterr()
    assert "afx summary: Figures 13-16 for 2 runs" in out.out and "FAILED" not in out.err
    assert {"fig13.png", "fig16.png", "fig15.csv", "summary.md"} <= {p.name for p in (sweep_dir / "summary").iterdir()}
    assert not (sweep_dir / "summary" / "fig13.svg").exists()  # formats honoured
    parent = tracking.read_parent_run_id(sweep_dir)
    client = client_of(cwd)
    assert "summary/fig14.png" in {a.path for a in client.list_artifacts(parent, "summary")}
    run = client.get_run(parent)
    assert run.data.tags["afx.summary.status"] == "ok" and run.data.tags["afx.summary.conditioning"] == "af_partial"
    assert "fig16/helpful_only/af_pct" in run.data.metrics


def test_callback_conditioning_follows_the_classifier_config_unless_set(sweep, monkeypatch):
    cwd, sweep_dir = sweep
    monkeypatch.chdir(cwd)
    summary = SummaryCallback(n_boot=50, figures=["fig15"], formats=["png"]).run(
        multirun_config(sweep_dir, "classifier.conditioning_classifier=af_full")
    )
    assert set(summary.tables["fig15"]["conditioning"].to_list()) == {"af_full"}
    summary = SummaryCallback(n_boot=50, conditioning="af_partial", figures=["fig15"], formats=["png"]).run(
        multirun_config(sweep_dir, "classifier.conditioning_classifier=af_full")
    )
    assert set(summary.tables["fig15"]["conditioning"].to_list()) == {"af_partial"}


def test_callback_failure_is_loud_written_down_and_never_raised(tmp_path, capsys):
    sweep_dir = tmp_path / "outputs" / "multirun" / "2030-01-01_00-00-00"
    uri = tracking.tracking_uri(tmp_path)
    parent = tracking.create_parent_run(uri, "afx", tmp_path / "mlruns" / "artifacts", sweep_dir, {})
    result = SummaryCallback().run(multirun_config(sweep_dir))  # a sweep whose jobs logged nothing
    assert result is None
    err = capsys.readouterr().err
    assert "afx summary: FAILED: no finished afx job runs match" in err
    assert f"afx summary --sweep {sweep_dir}" in err
    text = (sweep_dir / "summary_error.txt").read_text()
    assert "Traceback" in text and "AfxError" in text
    run = MlflowClient(uri).get_run(parent)
    assert (
        run.data.tags["afx.summary.status"] == "failed"
        and "no finished afx job runs" in run.data.tags["afx.summary.error"]
    )
    assert "summary/summary_error.txt" in {a.path for a in MlflowClient(uri).list_artifacts(parent, "summary")}


def test_a_multirun_that_dies_midway_is_still_summarised_at_exit(tmp_path):
    """Job #1 raises (its variation edits a slot only the other setting has): Hydra never calls on_multirun_end."""
    conf = tmp_path / "user_conf"
    (conf / "variation").mkdir(parents=True)
    (conf / "experiment").mkdir()
    (conf / "variation" / "aw_only.yaml").write_text(
        "# @package variation.aw_only\nname: aw_only\nversion: 1\ndescription: test\n"
        "settings: [animal_welfare, helpful_only]\npaper_rows: []\n"
        "ops: [{op: remove, path: slots.partner_paragraph}]\n"
    )
    (conf / "experiment" / "dies.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n      setting: animal_welfare,helpful_only\n"
        "      variation: aw_only\n"
    )
    done = run_afx(
        "-m", "+experiment=dies", "model=simulated", "data.limit=10", f"hydra.searchpath=[file://{conf}]",
        "hydra.callbacks.summary.n_boot=100", "progress=false", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "stopped before its end; summarising the jobs that finished" in done.stdout
    assert "afx summary: Figures 13-16 for 1 runs" in done.stdout
    (sweep_dir,) = (tmp_path / "outputs" / "multirun").iterdir()
    assert "covers only the jobs that finished" in (sweep_dir / "summary" / "summary.md").read_text()


# ------------------------------------------------------------------------------------------ afx summary


def test_afx_summary_for_a_sweep_dir_logs_to_its_parent_run(sweep):
    cwd, sweep_dir = sweep
    done = run_afx("summary", "--sweep", str(sweep_dir), "--n-boot", "100", "--formats", "png", cwd=cwd)
    assert done.returncode == 0, done.stderr
    parent = tracking.read_parent_run_id(sweep_dir)
    assert f"logged to MLflow run {parent}" in done.stdout and "mlflow ui --backend-store-uri" in done.stdout
    assert (sweep_dir / "summary" / "summary.md").is_file()


def test_afx_summary_over_a_filter_makes_a_summary_run_linked_to_its_sources(sweep):
    cwd, _ = sweep
    client = client_of(cwd)
    out = cwd / "filtered"
    done = run_afx(
        "summary", "--filter", "tags.setting = 'helpful_only'", "--n-boot", "100", "--out", str(out), cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    summaries = client.search_runs([client.get_experiment_by_name("afx").experiment_id], "tags.`afx.kind` = 'summary'")
    (summary,) = [
        r for r in summaries if r.data.tags["afx.summary.selection"].endswith("filter [tags.setting = 'helpful_only']")
    ]
    assert summary.info.status == "FINISHED" and summary.data.tags["afx.summary.n_sources"] == "1"
    (source_id,) = pl.read_csv(out / "sources.csv")["run_id"].to_list()
    source = client.get_run(source_id)
    assert source.data.tags["setting"] == "helpful_only"
    assert source.data.tags["afx.summary_run_id"] == summary.info.run_id
    assert summary.data.tags["afx.summary.sources"] == source_id
    assert {"summary/fig13.png", "summary/sources.csv"} <= {
        a.path for a in client.list_artifacts(summary.info.run_id, "summary")
    }


def test_afx_summary_without_transcripts_uses_the_logged_metrics(sweep, tmp_path):
    cwd, sweep_dir = sweep
    kw = ("--sweep", str(sweep_dir), "--no-log", "--n-boot", "100", "--figures", "fig13", "--formats", "png")
    assert run_afx("summary", *kw, "--out", str(tmp_path / "t"), cwd=cwd).returncode == 0
    assert run_afx("summary", *kw, "--no-transcripts", "--out", str(tmp_path / "m"), cwd=cwd).returncode == 0
    a, b = pl.read_csv(tmp_path / "t" / "fig13.csv"), pl.read_csv(tmp_path / "m" / "fig13.csv")
    assert set(a["source"]) == {"transcripts"} and set(b["source"]) == {"metrics"}
    for column in ("train_pct", "unmonitored_pct", "gap_pp", "gap_se"):
        assert a[column].to_list() == pytest.approx(b[column].to_list())
    assert b["gap_ci_lo"].is_null().all()  # no bootstrap without transcripts, and it says so by leaving it empty


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--experiment", "nope"), "no MLflow experiment named 'nope'", id="unknown_experiment"),
        pytest.param(("--filter", "tags.setting = 'x'"), "no finished afx job runs match", id="nothing_matches"),
        pytest.param(("--sweep", "no/such/dir"), "no such directory", id="missing_sweep_dir"),
        pytest.param(("--filter", "tags.setting ~~ 'x'"), "MLflow rejected the filter", id="bad_filter"),
    ],
)
def test_afx_summary_bad_input_is_one_clear_line(sweep, args, message):
    cwd, _ = sweep
    done = run_afx("summary", *args, cwd=cwd)
    assert done.returncode == 2
    assert done.stderr.startswith("afx summary: error: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_remote_artifact_stores_are_downloaded(sweep, monkeypatch):
    """Runs whose artifacts are not on this machine (s3://, mlflow-artifacts:) are fetched, then read."""
    cwd, sweep_dir = sweep
    client = client_of(cwd)
    loaded = load.load_runs(client, load.Selection(client.tracking_uri, sweep_id=sweep_dir.name))
    local, _ = load.load_transcripts(client, loaded.runs)
    monkeypatch.setattr(load, "local_artifact_dir", lambda uri: None)
    fetched, missing = load.load_transcripts(client, loaded.runs)
    assert not missing and fetched.height == local.height > 0
    assert fetched.sort(pl.all()).equals(local.sort(pl.all()))


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///data/mlruns/1/abc/artifacts", "/data/mlruns/1/abc/artifacts"),
        ("/data/mlruns/1/abc/artifacts", "/data/mlruns/1/abc/artifacts"),
        ("mlflow-artifacts:/1/abc/artifacts", None),
        ("s3://bucket/1/abc/artifacts", None),
    ],
)
def test_local_artifact_dirs(uri, path):
    got = load.local_artifact_dir(uri)
    assert (str(got) if got else None) == path


def test_direct_sql_read_of_the_runs_equals_search_runs(sweep, monkeypatch):
    """The database fast path (column queries through MLflow's table models) and the public API agree."""
    cwd, sweep_dir = sweep
    client = client_of(cwd)
    selection = load.Selection(client.tracking_uri, sweep_id=sweep_dir.name)
    assert load._sql_job_runs(client, selection, ["1"]) is not None  # the fast path is really taken
    fast = load.load_runs(client, selection)
    monkeypatch.setattr(load, "_sql_job_runs", lambda *a: None)
    slow = load.load_runs(client, selection)
    assert fast.runs.sort("run_id").equals(slow.runs.sort("run_id"))
    by_id = {r["run_id"]: r for r in slow.metric_runs}
    assert len(fast.metric_runs) == len(by_id) == 2
    for run in fast.metric_runs:
        assert run == by_id[run["run_id"]]
    assert fast.experiment_ids == slow.experiment_ids


def test_a_real_multirun_through_afx_cli_ends_with_the_summary(afx_cli, tmp_path):
    done = afx_cli(
        "-m", "setting=helpful_only,animal_welfare", "prefix=none,obedient", "model=simulated", "data.limit=12",
        "hydra.callbacks.summary.n_boot=100", "progress=false",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "afx summary: Figures 13-16 for 4 runs" in done.stdout and "FAILED" not in done.stderr
    # the summary runs before the parent run is closed, and its line comes before the sweep's last lines
    assert done.stdout.index("afx summary:") < done.stdout.index("afx: sweep finished")
    (sweep_dir,) = (tmp_path / "outputs" / "multirun").iterdir()
    assert (sweep_dir / "summary" / "fig13.svg").is_file() and not (sweep_dir / "summary_error.txt").exists()
    client = client_of(tmp_path)
    parent = client.get_run(tracking.read_parent_run_id(sweep_dir))
    assert parent.info.status == "FINISHED" and parent.data.metrics["summary/n_runs"] == 4
    assert "fig13/helpful_only/obedient/gap_pp" in parent.data.metrics
