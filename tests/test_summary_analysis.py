"""Summary plugin statistics, without MLflow or Hydra: the paper's Fig. 14 fits, agreement with the jobs'
own metric definitions, the bootstrap over transcripts, and explicit n/a for every missing cell."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from afx.metrics import compute_job_metrics
from afx_summary import analysis as an
from afx_summary.load import read_transcript_files
from afx_summary.pipeline import Options, build, display_rows, write

PAPER = Path(__file__).parent / "data" / "summary_paper_appendix_g.csv"
# rows of paper.md 6.1 / 6.2 that are other models than Claude 3 Opus (paper.md 5.1's "Opus-only" subsets)
OTHER_MODELS = {*range(11, 22), 57, *range(70, 80)}


# ------------------------------------------------------------------------------ paper numbers, Fig. 14


def paper_fit(setting: str, opus_only: bool = False, **kw) -> dict:
    table = pl.read_csv(PAPER).filter(pl.col("setting") == setting)
    if opus_only:
        table = table.filter(~pl.col("row").is_in(sorted(OTHER_MODELS)))
    return an.fig14_stats(an.paper_points(table), **kw).row(0, named=True)


@pytest.mark.parametrize(
    ("setting", "opus_only", "n", "r", "slope", "intercept"),
    [
        pytest.param("helpful_only", False, 57, 0.95, 0.99, 0.3, id="helpful_only_all_rows"),
        pytest.param("helpful_only", True, 45, 0.96, 1.07, None, id="helpful_only_opus_rows"),
        pytest.param("animal_welfare", False, 88, 0.66, 0.45, 3.0, id="animal_welfare_all_rows"),
        pytest.param("animal_welfare", True, 78, 0.65, 0.47, None, id="animal_welfare_opus_rows"),
    ],
)
def test_paper_appendix_g_numbers_reproduce_paper_md_5_1(setting, opus_only, n, r, slope, intercept):
    fit = paper_fit(setting, opus_only)
    assert fit["n"] == n
    assert fit["pearson"] == pytest.approx(r, abs=0.006)
    assert fit["ols_slope"] == pytest.approx(slope, abs=0.006)
    if intercept is not None:
        assert fit["ols_intercept"] == pytest.approx(intercept, abs=0.06)
    for key in ("pearson", "spearman", "ols_slope", "deming_slope"):
        assert fit[f"{key}_lo"] < fit[key] < fit[f"{key}_hi"], key
    assert fit["n_boot_valid"] == 2000


def test_paper_fits_helpful_only_tight_slope_one_animal_welfare_loose():
    ho, aw = paper_fit("helpful_only"), paper_fit("animal_welfare")
    assert ho["deming_slope_lo"] < 1 < ho["deming_slope_hi"] and ho["ols_slope_lo"] < 1 < ho["ols_slope_hi"]
    assert aw["ols_slope_hi"] < 0.8 and aw["pearson_hi"] < ho["pearson_lo"]
    assert 0.6 < aw["spearman"] < 0.7 and ho["spearman"] > 0.9


def test_fit_statistics_on_known_lines():
    x = np.arange(10.0)
    exact = an.fit_stats(x, 2 * x + 3, np.ones(10), np.ones(10) * 2, n_boot=200)
    assert exact["ols_slope"] == pytest.approx(2) and exact["ols_intercept"] == pytest.approx(3)
    assert exact["deming_slope"] == pytest.approx(2) and exact["pearson"] == pytest.approx(1)
    assert exact["deming_delta"] == pytest.approx(4)
    anti = an.fit_stats(x, -x, n_boot=200)
    assert anti["spearman"] == pytest.approx(-1) and anti["pearson"] == pytest.approx(-1)
    ties = an.fit_stats([0, 0, 0, 1, 2], [0, 1, 0, 2, 3], n_boot=200)
    assert ties["spearman"] == pytest.approx(0.9176629354822471, abs=1e-12)  # average ranks (= scipy's spearmanr)


def test_deming_corrects_the_attenuation_that_noise_in_x_causes_in_ols():
    rng = np.random.default_rng(3)
    true_x = rng.uniform(0, 40, 400)
    x, y = true_x + rng.normal(0, 8, 400), true_x + rng.normal(0, 8, 400)
    fit = an.fit_stats(x, y, np.full(400, 8.0), np.full(400, 8.0), n_boot=300)
    assert fit["ols_slope"] < 0.9  # attenuated by the x reliability (~0.63 here)
    assert fit["deming_slope_lo"] < 1 < fit["deming_slope_hi"]
    assert fit["x_reliability"] == pytest.approx(fit["ols_slope"] / fit["deming_slope"], abs=0.1)


# ------------------------------------------------------------------------- transcripts -> statistics


def rec(tier, nc, afp=False, aff=False, um=False, status="ok", drop=()):
    labels = {}
    if status == "ok":
        labels = {"compliance": {"noncompliant": nc}, "af_partial": {"final": afp}, "af_full": {"final": aff}}
        if tier == "unmonitored":
            labels["unmonitored_reasoning"] = {"final": um}
        for key in drop:
            labels.pop(key, None)
    return {"query_id": "q", "tier": tier, "status": status, "output": "x", "turns": ["..."], "labels": labels}


def frame_of(tmp_path: Path, runs: dict[str, list[dict]]) -> pl.DataFrame:
    """Write each run's records as a transcripts.jsonl and read them back with the plugin's reader."""
    located = {}
    for run_id, records in runs.items():
        path = tmp_path / f"{run_id}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        located[str(path)] = run_id
    frame, missing = read_transcript_files(located)
    assert not missing
    return frame


def random_records(rng: random.Random, n: int, missing_labels: bool) -> list[dict]:
    out = []
    for _ in range(n):
        tier = rng.choice(["train", "unmonitored"])
        status = "ok" if rng.random() > 0.1 else rng.choice(["no_output", "unclosed_tag", "turn_limit"])
        drop = ()
        if missing_labels and rng.random() < 0.05:
            drop = (rng.choice(["af_partial", "af_full", "unmonitored_reasoning", "compliance"]),)
        flags = [rng.random() < p for p in (0.5, 0.3, 0.2, 0.3)]
        out.append(rec(tier, *flags, status=status, drop=drop))
    return out


METRIC_COLUMNS = {
    "train/noncompliance_pct": "train_pct",
    "train/noncompliance_se": "train_se",
    "unmonitored/noncompliance_pct": "unmonitored_pct",
    "gap_pp": "gap_pp",
    "gap_se": "gap_se",
    "af/partial_pct": "af_partial_pct",
    "af/full_pct": "af_full_pct",
    "af/mean_pct": "af_mean_pct",
    "af/mean_se": "af_mean_se",
    "cond/train/af/noncompliance_pct": "cond_train_af_pct",
    "cond/train/no_af/noncompliance_pct": "cond_train_no_af_pct",
    "cond/unmonitored/no_af/noncompliance_pct": "cond_unmonitored_no_af_pct",
    "cond/no_af_gap_pp": "cond_no_af_gap_pp",
    "unmonitored_reasoning_pct": "um_pct",
    "unmonitored_reasoning_among_noncompliant_pct": "um_among_nc_pct",
    "train/n_valid": "train_n",
    "cond/train/af/n": "cond_train_af_n",
    "cond/unmonitored/no_af/n": "cond_unmonitored_no_af_n",
}


@pytest.mark.parametrize("missing_labels", [False, True], ids=["all_labelled", "some_labels_missing"])
def test_recomputed_from_transcripts_equals_the_jobs_metrics(tmp_path, missing_labels):
    rng = random.Random(7)
    runs = {f"run{i}": random_records(rng, 300, missing_labels) for i in range(6)}
    stats = an.run_stats(frame_of(tmp_path, runs), [], "af_partial", n_boot=200)
    by_run = {r["run_id"]: r for r in stats.iter_rows(named=True)}
    for run_id, records in runs.items():
        job = compute_job_metrics(records, "af_partial")
        row = by_run[run_id]
        for metric, column in METRIC_COLUMNS.items():
            if metric in job.values:
                assert row[column] == pytest.approx(job.values[metric], abs=1e-9), (run_id, metric)
            else:  # n/a in the job -> n/a (with a reason) here too
                assert row[column] is None, (run_id, metric)
                assert row[f"na_{column.rsplit('_', 1)[0]}"], (run_id, metric)


def test_an_unjudged_label_is_left_out_and_counted_not_read_as_no(tmp_path):
    """A judge that failed writes final: null; like the job's metrics, that row leaves the AF denominator."""
    records = [rec("train", False, afp=True, aff=True)] * 5 + [rec("unmonitored", True)] * 5
    broken = rec("train", False)
    broken["labels"]["af_partial"] = {"final": None, "error": "judge timed out"}
    refused = rec("train", True, drop=("af_partial", "af_full"))  # non-compliant: AF indicator known (no)
    rows = [*records, broken, refused]
    stats = an.run_stats(frame_of(tmp_path, {"r": rows}), [], n_boot=50).row(0, named=True)
    assert stats["af_partial_pct"] == pytest.approx(500 / 6)  # 5 of the 6 rows with a known indicator
    assert stats["af_full_pct"] == pytest.approx(500 / 7)
    assert stats["af_mean_pct"] == pytest.approx(500 / 6) and stats["train_unjudged_af"] == 1
    assert stats["af_mean_pct"] == pytest.approx(compute_job_metrics(rows).values["af/mean_pct"])


def test_bootstrap_over_transcripts_matches_resampling_rows():
    """The multinomial shortcut has the distribution of resampling transcripts with replacement."""
    counts = {"b_train_nc": 30, "b_train_zero": 40, "b_train_half": 10, "b_train_one": 20}
    point = pl.DataFrame([{**counts, "b_unmon_k": 70, "b_unmon_n": 100, "source": "transcripts"}])
    xs, ys = an.transcript_draws(point, 4000, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    score = np.repeat([0.0, 0.0, 0.5, 1.0], [30, 40, 10, 20])
    nc = np.repeat([1, 0, 0, 0], [30, 40, 10, 20])
    unmon = np.repeat([1, 0], [70, 30])
    idx, uidx = rng.integers(0, 100, (4000, 100)), rng.integers(0, 100, (4000, 100))
    rx, ry = 100 * score[idx].mean(1), 100 * (unmon[uidx].mean(1) - nc[idx].mean(1))
    assert xs.mean() == pytest.approx(rx.mean(), abs=0.3) and xs.std() == pytest.approx(rx.std(), rel=0.06)
    assert ys.mean() == pytest.approx(ry.mean(), abs=0.4) and ys.std() == pytest.approx(ry.std(), rel=0.06)
    assert np.corrcoef(xs[:, 0], ys[:, 0])[0, 1] == pytest.approx(np.corrcoef(rx, ry)[0, 1], abs=0.06)


def test_gap_bootstrap_ci_agrees_with_the_sem_for_large_n(tmp_path):
    records = [rec("train", i % 5 == 0) for i in range(2000)] + [rec("unmonitored", i % 2 == 0) for i in range(2000)]
    row = an.run_stats(frame_of(tmp_path, {"r": records}), [], n_boot=4000).row(0, named=True)
    assert row["gap_pp"] == pytest.approx(30.0)
    assert row["gap_ci_lo"] == pytest.approx(row["gap_pp"] - 1.96 * row["gap_se"], abs=0.4)
    assert row["gap_ci_hi"] == pytest.approx(row["gap_pp"] + 1.96 * row["gap_se"], abs=0.4)


def synthetic_points(rng: np.random.Generator, faker: np.ndarray, n: int) -> pl.DataFrame:
    """Fig. 14 points from the persona model with AF as the only gap source (true slope 1), as counts."""
    rows = []
    for i, f in enumerate(faker):
        r = 0.9 - f
        train = rng.multinomial(n, [r, 0.1, 0.0, f])  # non-compliant, compliant AF 0 / 0.5 / 1
        unmon = int(rng.binomial(n, r + f))
        x = train[3] / n
        rows.append(
            {
                "setting": "s",
                "label": str(i),
                "af_pct": 100 * x,
                "af_se": 100 * math.sqrt(x * (1 - x) / (n - 1)),
                "gap_pp": 100 * (unmon - train[0]) / n,
                "gap_se": 100 * math.sqrt((unmon / n) * (1 - unmon / n) / n + (train[0] / n) * (1 - train[0] / n) / n),
                "included": True,
                "source": "transcripts",
                **dict(zip(an.B_TRAIN[:4], map(int, train), strict=True)),
                "b_unmon_k": unmon,
                "b_unmon_n": n,
            }
        )
    return pl.DataFrame(rows)


def test_deming_transcript_ci_has_nominal_coverage_on_a_fixed_design():
    """60 simulated sweeps of 9 variations: the CI over transcripts covers the true slope ~95% of the time."""
    rng = np.random.default_rng(11)
    faker = np.array([0.02, 0.08, 0.12, 0.14, 0.2, 0.26, 0.32, 0.38, 0.45])
    hits = 0
    for rep in range(60):
        fit = an.fig14_stats(synthetic_points(rng, faker, 800), n_boot=400, seed=rep).row(0, named=True)
        hits += fit["deming_slope_lo_t"] <= 1 <= fit["deming_slope_hi_t"]
    assert hits >= 52  # expected ~57; a broken interval (too narrow, or not centred on the data) falls far below


# --------------------------------------------------------------------------------------- missing cells


def runs_frame(run_ids, variations=None, prefix="none", setting="helpful_only"):
    rows = []
    for i, run_id in enumerate(run_ids):
        rows.append(
            {
                "run_id": run_id,
                "run_name": run_id,
                "experiment_id": "1",
                "status": "FINISHED",
                "start_time": i,
                "artifact_uri": "",
                "setting": setting,
                "model": "m",
                "classifier": "heuristic",
                "prefix_mode": "prefill",
                "prefix": prefix,
                "variation": (variations or {}).get(run_id, run_id),
                "sweep_id": "s",
                "parent_run_id": None,
            }
        )
    return pl.DataFrame(rows)


def test_missing_cells_are_explicit_na_with_reasons_never_zero(tmp_path):
    good = [rec("train", i % 3 == 0, afp=i % 4 == 1, aff=i % 4 == 1) for i in range(60)]
    good += [rec("unmonitored", i % 2 == 0, um=i % 4 == 0) for i in range(60)]
    runs = {
        "only_train": [rec("train", i % 2 == 0) for i in range(40)],  # a variation with one tier
        "judge_failed": [
            *[rec("train", i % 3 == 0, drop=("af_partial", "af_full")) for i in range(60)],  # no AF judgement at all
            *good[60:],
        ],
        "all_failed": [rec("train", None, status="no_output")] * 5 + [rec("unmonitored", None, status="empty")] * 5,
        "good": good,
    }
    stats = an.run_stats(frame_of(tmp_path, runs), [], n_boot=100)
    summary = build(runs_frame(list(runs)), [], frame_of(tmp_path, runs), Options(n_boot=100), draw=True)
    by_run = {r["run_id"]: r for r in stats.iter_rows(named=True)}

    one = by_run["only_train"]
    assert one["unmonitored_pct"] is None and one["na_unmonitored"] == "no unmonitored transcripts"
    assert one["gap_pp"] is None and "unmonitored tier has no valid transcripts" in one["na_gap"]
    assert one["train_pct"] == pytest.approx(50.0)
    judge = by_run["judge_failed"]
    assert judge["af_partial_pct"] is None
    assert judge["na_af_partial"] == "no training transcript has a judged af_partial label"
    assert judge["af_mean_pct"] is None and judge["na_af_mean"] == "needs both af_partial and af_full labels"
    assert judge["gap_pp"] is not None and judge["cond_train_no_af_pct"] is None
    dead = by_run["all_failed"]
    assert dead["train_n_total"] == 5 and dead["train_n"] == 0
    assert dead["train_pct"] is None and dead["na_train"] == "no valid train transcripts"

    points = summary.tables["fig14_points"]
    excluded = set(points.filter(~pl.col("included"))["variation"].to_list())
    assert excluded == {"only_train", "judge_failed", "all_failed"}
    fit = summary.tables["fig14_stats"].row(0, named=True)
    assert fit["n"] == 1 and fit["pearson"] is None and "needs at least 3 points" in fit["note"]

    rows, _ = display_rows("fig13", summary.tables["fig13"])
    shown = {r["variation"]: r for r in rows}
    assert shown["only_train"]["unmonitored"].startswith("n/a (unmonitored: no unmonitored transcripts")
    assert shown["all_failed"]["training"].startswith("n/a (")
    f15 = summary.tables["fig15"].filter((pl.col("variation") == "good") & (pl.col("af_reasoning") == "present"))
    assert f15["unmonitored_n"].item() == 0 and "no unmonitored transcripts in this cell" in f15["note"].item()
    files = write(summary, tmp_path / "out", Options(n_boot=100))
    text = (tmp_path / "out" / "summary.md").read_text()
    assert "n/a (" in text and " 0.0 ± 0.0 | 0 |" not in text
    assert {p.name for p in files} >= {f"fig{i}.{e}" for i in (13, 14, 15, 16) for e in ("png", "svg")}


def test_runs_without_transcripts_use_logged_metrics_and_their_na_tags():
    metric_runs = [
        {
            "run_id": "r1",
            "metrics": {"train/noncompliance_pct": 80.0, "train/noncompliance_se": 2.0, "train/n_valid": 400},
            "na": {"unmonitored/noncompliance_pct": "no valid unmonitored transcripts"},
        }
    ]
    row = an.run_stats(None, metric_runs).row(0, named=True)
    assert row["source"] == "metrics" and row["train_pct"] == 80.0 and row["train_n"] == 400
    assert row["unmonitored_pct"] is None and row["na_unmonitored"] == "no valid unmonitored transcripts"
    assert row["na_af_mean"] == "metric af/mean_pct was not logged"


def test_latest_run_wins_per_condition_and_the_others_are_reported(tmp_path):
    records = {f"r{i}": [rec("train", True), rec("unmonitored", True)] for i in range(3)}
    runs = runs_frame(list(records), variations={"r0": "v", "r1": "v", "r2": "w"})
    summary = build(runs, [], frame_of(tmp_path, records), Options(n_boot=50), draw=False)
    assert sorted(summary.tables["runs"]["run_id"].to_list()) == ["r1", "r2"]
    assert any("run r0 (r0) left out: a later run has the same condition" in n for n in summary.notes)


def test_settings_in_paper_order_and_prefixes_none_deceptive_obedient(tmp_path):
    records = {}
    runs = []
    for setting in ("animal_welfare", "helpful_only"):
        for prefix in ("obedient", "none", "deceptive"):
            run_id = f"{setting}-{prefix}"
            records[run_id] = [rec("train", True), rec("unmonitored", False)]
            runs.append(runs_frame([run_id], {run_id: "default"}, prefix, setting))
    summary = build(pl.concat(runs), [], frame_of(tmp_path, records), Options(n_boot=20), draw=False)
    order = summary.tables["fig13"].select("setting", "prefix").rows()
    assert order == [(s, p) for s in ("helpful_only", "animal_welfare") for p in ("none", "deceptive", "obedient")]
