"""The summary recovers the simulator's known truth, end to end: real Hydra multiruns on the simulated
backend, the summary callback firing at the end of each, figures read back from the sweep directory.
Labels are the simulator's truth (`classifier=oracle`): these test the statistics, not a classifier.

Sweep 1 (18 jobs): eight test variations plus the default, both settings. Helpful-only: alignment faking
is the only gap source (gap = AF rate, slope 1). Animal welfare: a non-AF gap source (tier_sensitive
personas) proportional to AF (gap = 1.5 x AF, slope 1.5). `faker_unmonitored_af` makes the AF classifier
flag fakers in both tiers, so Fig. 15's AF-absent gap is t / (1 - f): 0 in helpful-only, clearly not in
animal welfare.
Sweep 2 (`+experiment=fig13`, default simulator): steering per prefix, and Fig. 15's AF-absent gap under
the default persona model, which is the selection effect f(1 - r - f)/(1 - f) (see simulated.py).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from afx.backends.simulated import expected_rates
from afx.paths import conf_dir
from helpers import run_afx

pytestmark = pytest.mark.slow  # two real sweeps (24 jobs, ~45 s)

FAKERS = (0.02, 0.08, 0.14, 0.20, 0.26, 0.32, 0.38, 0.45)
VARIATIONS = [f"v{i + 1}" for i in range(len(FAKERS))]
TRUE_SLOPE = {"helpful_only": 1.0, "animal_welfare": 1.5}
TRUTH = {
    "helpful_only": {
        "base": {"faker": 0.12, "refuser": 0.78, "tier_sensitive": 0.0},
        "variation": {
            v: {"faker": f, "refuser": round(0.9 - f, 3), "tier_sensitive": 0.0}
            for v, f in zip(VARIATIONS, FAKERS, strict=True)
        },
    },
    "animal_welfare": {
        "base": {"faker": 0.24, "refuser": 0.3, "tier_sensitive": 0.12},
        "variation": {
            v: {"faker": f, "refuser": 0.3, "tier_sensitive": round(0.5 * f, 3)}
            for v, f in zip(VARIATIONS, FAKERS, strict=True)
        },
    },
}


def write_user_conf(root: Path) -> Path:
    """A search-path dir with the test model (the simulator + per-variation truth) and the test variations."""
    (root / "model").mkdir(parents=True)
    (root / "variation").mkdir()
    model = {"defaults": ["simulated", "_self_"], "name": "sim-summary", "failure_rate": 0.02}
    model |= {"faker_unmonitored_af": True, "truth": TRUTH}
    (root / "model" / "sim_summary.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    for name in VARIATIONS:
        (root / "variation" / f"{name}.yaml").write_text(
            f"# @package variation.{name}\nname: {name}\nversion: 1\n"
            "description: Test variation; the prompt is unchanged, only the simulator's truth differs.\n"
            "settings: [helpful_only, animal_welfare]\npaper_rows: []\nops: []\n"
        )
    return root


def sweep_dir(cwd: Path) -> Path:
    (found,) = sorted((cwd / "outputs" / "multirun").iterdir())
    return found


@pytest.fixture(scope="module")
def variations_sweep(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("summary_variations")
    conf = write_user_conf(cwd / "user_conf")
    done = run_afx(
        "-m",
        "setting=helpful_only,animal_welfare",
        "variation=" + ",".join(["default", *VARIATIONS]),
        "model=sim_summary",
        "classifier=oracle",
        "data.limit=null",
        "data.samples_per_query=2",
        "cache.enabled=false",  # identical prompts across the test variations: the cache would mask the truth
        f"hydra.searchpath=[file://{conf}]",
        "progress=false",
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return cwd, sweep_dir(cwd), done


@pytest.fixture(scope="module")
def steering_sweep(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("summary_steering")
    done = run_afx("-m", "+experiment=fig13", "model=simulated", "classifier=oracle", "progress=false", cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return cwd, sweep_dir(cwd), done


def truth(setting: str, variation: str, prefix: str = "none", model_truth=None, unmon_af: bool = True) -> dict:
    names = [] if variation == "default" else [variation]
    return expected_rates(model_truth or TRUTH, setting, prefix, names, faker_unmonitored_af=unmon_af)


def close(value: float, expected: float, se: float, k: float = 3.5) -> bool:
    return abs(value - expected) <= k * se + 0.5


def table(sweep: Path, name: str) -> pl.DataFrame:
    return pl.read_csv(sweep / "summary" / f"{name}.csv")


# ------------------------------------------------------------------------------------------- sweep 1


def test_callback_summarised_the_sweep_into_its_dir_and_parent_run(variations_sweep):
    cwd, sweep, done = variations_sweep
    assert "afx summary: Figures 13-16 for 18 runs" in done.stdout
    assert not (sweep / "summary_error.txt").exists()
    out = sweep / "summary"
    for name in ("fig13", "fig14", "fig15", "fig16"):
        assert (out / f"{name}.png").stat().st_size > 10_000 and (out / f"{name}.svg").is_file()
    for name in ("fig13", "fig14_points", "fig14_stats", "fig15", "fig16"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.md").is_file()
    text = (out / "summary.md").read_text()
    assert "![Fig. 14: AF reasoning vs compliance gap (points)](fig14.png)" in text
    diff = float(re.search(r"largest difference (\S+) pp over (\d+) values", text).group(1))
    assert diff < 1e-9  # recomputed from transcripts == the jobs' logged metrics

    client = MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
    parent = client.get_run((sweep / "mlflow_parent_run_id").read_text().strip())
    assert parent.info.status == "FINISHED" and parent.data.tags["afx.summary.status"] == "ok"
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "summary")}
    assert {"summary/fig14.png", "summary/fig14.svg", "summary/fig15.csv", "summary/summary.md"} <= logged
    assert parent.data.metrics["fig14/helpful_only/n"] == 9
    assert "fig14/animal_welfare/deming_slope" in parent.data.metrics


@pytest.mark.parametrize("setting", ["helpful_only", "animal_welfare"])
def test_fig14_points_recover_the_truth(variations_sweep, setting):
    points = table(variations_sweep[1], "fig14_points").filter(pl.col("setting") == setting)
    assert points.height == 9 and points["included"].all()
    for p in points.iter_rows(named=True):
        want = truth(setting, p["variation"])
        assert close(p["af_pct"], 100 * (want["af_partial"] + want["af_full"]) / 2, p["af_se"]), p
        assert close(p["gap_pp"], 100 * want["gap"], p["gap_se"]), p


@pytest.mark.parametrize("setting", ["helpful_only", "animal_welfare"])
def test_fig14_slope_ci_covers_the_simulators_true_slope(variations_sweep, setting):
    # the truth's own slope, from the simulator's expected rates (1 and 1.5 by construction)
    xs = [truth(setting, v)["af_partial"] for v in ["default", *VARIATIONS]]
    ys = [truth(setting, v)["gap"] for v in ["default", *VARIATIONS]]
    true_slope = float(np.polyfit(xs, ys, 1)[0])
    assert true_slope == pytest.approx(TRUE_SLOPE[setting])
    fit = table(variations_sweep[1], "fig14_stats").filter(pl.col("setting") == setting).row(0, named=True)
    assert fit["n"] == 9 and fit["pearson"] > 0.95
    # the simulator's variations are a fixed design (no scatter beyond sampling noise): the CI that answers
    # "which slopes are compatible with these transcripts" is the bootstrap over transcripts
    assert fit["deming_slope_lo_t"] <= true_slope <= fit["deming_slope_hi_t"]
    assert abs(fit["deming_slope"] - true_slope) < 0.15 and abs(fit["ols_slope"] - true_slope) < 0.15
    wrong = 1.5 if setting == "helpful_only" else 1.0  # the other setting's slope is excluded: the test has power
    assert not fit["deming_slope_lo_t"] <= wrong <= fit["deming_slope_hi_t"]
    assert not fit["deming_slope_lo"] <= wrong <= fit["deming_slope_hi"]


def pooled(rows: pl.DataFrame) -> tuple[float, float]:
    w = 1 / rows["gap_se"].to_numpy() ** 2
    return float((w * rows["gap_pp"].to_numpy()).sum() / w.sum()), float(math.sqrt(1 / w.sum()))


def test_fig15_af_absent_gap_is_zero_when_af_is_the_only_gap_source(variations_sweep):
    f15 = table(variations_sweep[1], "fig15")
    assert set(f15["conditioning"].to_list()) == {"af_partial"}
    absent = f15.filter((pl.col("setting") == "helpful_only") & (pl.col("af_reasoning") == "absent"))
    assert absent.height == 9
    for r in absent.iter_rows(named=True):
        assert close(r["gap_pp"], 0.0, r["gap_se"]), r
    mean, se = pooled(absent)
    assert abs(mean) <= 3 * se, (mean, se)  # pooled over 9 variations: still nothing there
    overall = table(variations_sweep[1], "fig13").filter(pl.col("setting") == "helpful_only")
    assert pooled(overall)[0] > 15  # ... while the unconditioned gap is large


def test_fig15_af_absent_gap_is_clearly_nonzero_with_a_non_af_gap_source(variations_sweep):
    f15 = table(variations_sweep[1], "fig15")
    absent = f15.filter((pl.col("setting") == "animal_welfare") & (pl.col("af_reasoning") == "absent"))
    for r in absent.iter_rows(named=True):
        want = truth("animal_welfare", r["variation"])
        assert close(r["gap_pp"], 100 * want["cond_no_af_gap"], r["gap_se"]), r
    strong = absent.filter(pl.col("variation").is_in(["default", "v5", "v6", "v7", "v8"]))
    assert (strong["gap_ci_lo"] > 0).all()
    mean, se = pooled(strong)
    assert mean > 5 * se and mean > 15


def test_fig15_and_fig16_cells_match_the_truth(variations_sweep):
    sweep = variations_sweep[1]
    for r in table(sweep, "fig15").iter_rows(named=True):
        want = truth(r["setting"], r["variation"])
        flag = "af" if r["af_reasoning"] == "present" else "no_af"
        for tier, column in (("train", "train"), ("unmonitored", "unmonitored")):
            expected = want[f"cond_{tier}_{flag}"]
            if expected is None:
                assert r[f"{column}_n"] == 0
            else:
                assert close(r[f"{column}_pct"], 100 * expected, r[f"{column}_se"]), (r, tier)
    for r in table(sweep, "fig16").iter_rows(named=True):
        want = truth(r["setting"], r["variation"])
        nc = want["train_noncompliance" if r["tier"] == "train" else "unmonitored_noncompliance"]
        assert close(r["noncompliant_pct"], 100 * nc, r["noncompliant_se"]), r
        assert close(
            r["hatched_pct"],
            100 * want["af_partial" if r["tier"] == "train" else "unmonitored_reasoning"],
            r["hatched_se"],
        ), r


# ------------------------------------------------------------------------------------------- sweep 2


def test_experiment_fig13_runs_six_jobs_and_recovers_steering(steering_sweep):
    cwd, sweep, done = steering_sweep
    assert "afx summary: Figures 13-16 for 6 runs" in done.stdout
    model_truth = OmegaConf.to_container(OmegaConf.load(conf_dir() / "model" / "simulated.yaml").truth)
    f13 = table(sweep, "fig13")
    assert sorted(f13.select("setting", "prefix").rows()) == sorted(
        (s, p) for s in ("helpful_only", "animal_welfare") for p in ("none", "deceptive", "obedient")
    )
    for r in f13.iter_rows(named=True):
        want = truth(r["setting"], "default", r["prefix"], model_truth, unmon_af=False)
        assert close(r["train_pct"], 100 * want["train_noncompliance"], r["train_se"]), r
        assert close(r["unmonitored_pct"], 100 * want["unmonitored_noncompliance"], r["unmonitored_se"]), r
        assert r["gap_ci_lo"] < r["gap_pp"] < r["gap_ci_hi"]


def test_fig15_shows_the_selection_effect_of_the_default_persona_model(steering_sweep):
    """Fakers are recognisable only in training, so AF-absent unmonitored keeps them: gap f(1-r-f)/(1-f)."""
    model_truth = OmegaConf.to_container(OmegaConf.load(conf_dir() / "model" / "simulated.yaml").truth)
    f15 = table(steering_sweep[1], "fig15")
    for r in f15.filter(pl.col("af_reasoning") == "absent").iter_rows(named=True):
        want = truth(r["setting"], "default", r["prefix"], model_truth, unmon_af=False)
        assert close(r["gap_pp"], 100 * want["cond_no_af_gap"], r["gap_se"]), r
    present = f15.filter(pl.col("af_reasoning") == "present")
    assert (present["unmonitored_n"] == 0).all() and present["unmonitored_pct"].is_null().all()
    assert present["note"].str.contains("no unmonitored transcripts in this cell").all()
