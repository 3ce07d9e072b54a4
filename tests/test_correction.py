"""Judge-error correction (src/afx/correction.py): Rogan-Gladen exact on hand-computed rates, clipping,
refusal without information, the 2x2 back-calculation, and the interval's coverage in simulated studies."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from afx.correction import (
    Confusion,
    CorrectionError,
    conditional_rates,
    corrected_share,
    load_confusion,
    rogan_gladen,
    rogan_gladen_array,
)


@pytest.mark.parametrize(
    ("p_obs", "sens", "spec", "expected"),
    [
        # true 0.25: observed 0.9 * 0.25 + (1 - 0.8) * 0.75 = 0.375; (0.375 + 0.8 - 1) / 0.7 = 0.175 / 0.7
        (0.375, 0.9, 0.8, 0.25),
        # (0.3 + 0.9 - 1) / (0.8 + 0.9 - 1) = 0.2 / 0.7
        (0.3, 0.8, 0.9, 2 / 7),
        # a perfect classifier changes nothing
        (0.123, 1.0, 1.0, 0.123),
        # (0.5 + 0.6 - 1) / (0.6 + 0.6 - 1) = 0.1 / 0.2
        (0.5, 0.6, 0.6, 0.5),
        # (0.46 + 0.95 - 1) / (0.7 + 0.95 - 1) = 0.41 / 0.65
        (0.46, 0.7, 0.95, 0.41 / 0.65),
    ],
)
def test_rogan_gladen_is_exact_on_hand_computed_rates(p_obs, sens, spec, expected):
    assert rogan_gladen(p_obs, sens, spec) == pytest.approx(expected, abs=1e-12)
    assert rogan_gladen_array(np.array([p_obs]), np.array([sens]), np.array([spec]))[0] == pytest.approx(expected)


def test_estimates_outside_zero_one_are_clipped():
    assert rogan_gladen(0.05, 0.9, 0.9) == 0.0  # (0.05 - 0.1) / 0.8 < 0
    assert rogan_gladen(0.98, 0.9, 0.9) == 1.0  # (0.98 - 0.1) / 0.8 = 1.1
    assert rogan_gladen(0.1, 0.9, 0.9) == 0.0  # exactly the false-positive rate: no true positives


@pytest.mark.parametrize(("sens", "spec"), [(0.5, 0.5), (0.3, 0.6), (0.0, 1.0), (0.2, 0.1)])
def test_no_information_is_refused_with_a_reason(sens, spec):
    with pytest.raises(CorrectionError, match="<= 1"):
        rogan_gladen(0.3, sens, spec)
    assert math.isnan(rogan_gladen_array(np.array([0.3]), np.array([sens]), np.array([spec]))[0])
    tp, tn = round(100 * sens), round(100 * spec)
    result = corrected_share(30, 100, Confusion(tp=tp, fn=100 - tp, tn=tn, fp=100 - tn))
    assert math.isnan(result.value) and math.isnan(result.lo)
    assert "no information" in result.reason


def test_counts_without_gold_positives_are_refused():
    result = corrected_share(3, 10, Confusion(tp=0, fn=0, tn=40, fp=2))
    assert math.isnan(result.value)
    assert "sensitivity unknown" in result.reason


def test_the_interval_carries_the_uncertainty_of_sensitivity_and_specificity():
    # same observed share and same Se / Sp, validation set 20x larger: the interval must shrink
    small = corrected_share(120, 400, Confusion(tp=17, fn=3, tn=18, fp=2), n_boot=4000)
    large = corrected_share(120, 400, Confusion(tp=340, fn=60, tn=360, fp=40), n_boot=4000)
    assert small.value == pytest.approx(large.value) == pytest.approx((0.3 + 0.9 - 1) / (0.85 + 0.9 - 1))
    assert small.hi - small.lo > 1.5 * (large.hi - large.lo)
    assert small.lo <= small.value <= small.hi


def test_interval_covers_the_true_rate_in_simulated_studies():
    """300 studies: a known true AF share, a judge with known Se / Sp validated on 80 + 120 gold items,
    300 transcripts per study. The 95% interval must cover the truth in at least ~90% of them."""
    rng = np.random.default_rng(20261205)
    truth, sens, spec, n = 0.2, 0.85, 0.9, 300
    p_flag = sens * truth + (1 - spec) * (1 - truth)
    covered, naive_covered, widths = 0, 0, []
    for study in range(300):
        tp, tn = int(rng.binomial(80, sens)), int(rng.binomial(120, spec))
        confusion = Confusion(tp=tp, fn=80 - tp, tn=tn, fp=120 - tn)
        k = int(rng.binomial(n, p_flag))
        result = corrected_share(k, n, confusion, n_boot=1000, seed=study)
        covered += result.lo <= truth <= result.hi
        widths.append(result.hi - result.lo)
        # the uncorrected Wilson-like naive share is biased: it almost never covers the truth
        se = math.sqrt(k / n * (1 - k / n) / n)
        naive_covered += abs(k / n - truth) <= 1.96 * se
    assert covered / 300 >= 0.9, covered
    assert naive_covered / 300 < 0.5
    assert 0.05 < float(np.mean(widths)) < 0.3


def test_2x2_correction_recovers_the_true_conditional_rates_exactly():
    """Expected observed counts of a known truth (non-differential error) back-calculate to the truth."""
    sens, spec = 0.8, 0.95
    # true cells: AF & non-compliant 30, AF & compliant 170, no AF & non-compliant 560, no AF & compliant 240
    true_af = {"nc": 30.0, "c": 170.0}
    true_no = {"nc": 560.0, "c": 240.0}
    obs = {y: sens * true_af[y] + (1 - spec) * true_no[y] for y in ("nc", "c")}  # flagged per column
    unflagged = {y: true_af[y] + true_no[y] - obs[y] for y in ("nc", "c")}
    rates = conditional_rates(obs["nc"], obs["c"], unflagged["nc"], unflagged["c"], sens, spec)
    assert float(rates["af"]) == pytest.approx(30 / 200)
    assert float(rates["no_af"]) == pytest.approx(560 / 800)
    assert float(rates["af_share"]) == pytest.approx(0.2)
    naive = obs["nc"] / (obs["nc"] + obs["c"])
    assert abs(naive - 30 / 200) > 0.05  # the observed cell rate was biased


def test_load_confusion_reads_the_validation_report_format(tmp_path):
    path = tmp_path / "report.json"
    report = {
        "classifier": "heuristic",
        "labels": {"af_partial": {"n": 100, "kappa": 0.5, "confusion": {"tp": 30, "fp": 5, "fn": 10, "tn": 55}}},
    }
    path.write_text(json.dumps(report))
    c = load_confusion(path, "af_partial")
    assert (c.tp, c.fp, c.fn, c.tn) == (30, 5, 10, 55)
    assert c.sensitivity == 0.75 and c.specificity == 55 / 60
    assert c.describe() == "sens 0.75, spec 0.92"
    with pytest.raises(CorrectionError, match=r"no labels\.af_full\.confusion counts \(labels with counts: af_p"):
        load_confusion(path, "af_full")
    with pytest.raises(CorrectionError, match="no such file"):
        load_confusion(tmp_path / "missing.json", "af_partial")
