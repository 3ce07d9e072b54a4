"""Agreement statistics of validate-classifier against values worked out by hand."""

from __future__ import annotations

import pytest

from afx.classify.agreement import auroc, binary_scores, bootstrap_auroc_ci, bootstrap_ci, roc_curve


def test_auroc_on_a_tiny_set_by_hand():
    # positives score 0.9, 0.4, 0.7; negatives 0.4, 0.1. Pairs won: 0.9 -> 2, 0.4 -> 1 + a tie (1/2), 0.7 -> 2
    gold = [True, True, False, False, True]
    scores = [0.9, 0.4, 0.4, 0.1, 0.7]
    assert auroc(gold, scores) == pytest.approx(5.5 / 6)
    assert auroc([True, False], [0.2, 0.8]) == 0.0
    assert auroc([True, False], [0.5, 0.5]) == 0.5
    assert auroc([True, True], [0.1, 0.9]) is None, "one class only: no AUROC"


def test_roc_curve_steps_through_every_threshold():
    fpr, tpr = roc_curve([True, True, False, False, True], [0.9, 0.4, 0.4, 0.1, 0.7])
    # thresholds 0.9, 0.7, 0.4, 0.1 after the (0, 0) corner
    assert list(zip(fpr, tpr, strict=True)) == [
        (0.0, 0.0),
        (0.0, pytest.approx(1 / 3)),
        (0.0, pytest.approx(2 / 3)),
        (0.5, 1.0),
        (1.0, 1.0),
    ]
    # the trapezoid area under these points is the Mann-Whitney AUROC
    area = sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(fpr) - 1))
    assert area == pytest.approx(5.5 / 6)


def test_point_scores_by_hand():
    s = binary_scores([(True, True)] * 6 + [(True, False)] * 2 + [(False, True)] * 1 + [(False, False)] * 11)
    assert s["confusion"] == {"tp": 6, "fp": 1, "fn": 2, "tn": 11}
    assert s["sensitivity"] == s["recall"] == 0.75
    assert s["specificity"] == round(11 / 12, 4)
    assert s["precision"] == round(6 / 7, 4)
    assert s["f1"] == round(12 / 15, 4)
    # po = 17/20, pe = (7*8 + 13*12) / 400 = 0.53 -> kappa = 0.32 / 0.47
    assert s["kappa"] == round(0.32 / 0.47, 4)
    nothing_predicted = binary_scores([(True, False), (False, False)])
    assert nothing_predicted["precision"] is None and nothing_predicted["f1"] == 0.0


def test_bootstrap_of_a_perfect_classifier_is_a_point():
    pairs = [(True, True)] * 10 + [(False, False)] * 15
    ci = bootstrap_ci(pairs, resamples=500, seed=3)
    for name in ("kappa", "accuracy", "precision", "recall", "f1", "specificity"):
        assert ci[name] == [1.0, 1.0], name


def test_bootstrap_bounds_follow_the_binomial_spread():
    # 80 right of 100 (kappa 0.6 by construction): the 95% interval of the accuracy is about 0.80 +- 0.08
    pairs = [(True, True)] * 40 + [(False, False)] * 40 + [(True, False)] * 10 + [(False, True)] * 10
    ci = bootstrap_ci(pairs, resamples=2000, seed=0)
    lo, hi = ci["accuracy"]
    assert 0.70 <= lo <= 0.74 and 0.86 <= hi <= 0.89
    klo, khi = ci["kappa"]
    assert 0.4 <= klo < 0.6 < khi <= 0.78
    assert bootstrap_ci(pairs, resamples=2000, seed=0) == ci, "seeded: the same intervals every time"
    assert bootstrap_ci(pairs, resamples=2000, seed=1) != ci


def test_bootstrap_of_an_undefined_metric_is_none():
    ci = bootstrap_ci([(True, False), (False, False), (False, False)], resamples=200)
    assert ci["precision"] is None and ci["accuracy"] is not None
    assert all(v is None for v in bootstrap_ci([], resamples=200).values())


def test_bootstrap_auroc_interval():
    assert bootstrap_auroc_ci([True, True, False, False], [0.9, 0.8, 0.2, 0.1], 300, 0) == [1.0, 1.0]
    lo, hi = bootstrap_auroc_ci([True, False] * 20, [0.6, 0.4] * 15 + [0.4, 0.6] * 5, 500, 0)
    assert lo < 0.75 < hi
    assert bootstrap_auroc_ci([True, True], [0.1, 0.2], 100, 0) is None
