"""The votes curve of validate-classifier on stored votes built by hand, against expectations worked out by hand."""

from __future__ import annotations

import pytest

from afx.classify.validate_score import LabelData
from afx.classify.votes_curve import curve_markdown, label_curve, votes_curve


def data(rows: list[tuple[bool, list[bool | None]]]) -> LabelData:
    d = LabelData()
    for i, (gold, votes) in enumerate(rows):
        d.ids.append(str(i))
        d.gold.append(gold)
        d.pred.append(sum(bool(v) for v in votes) * 2 > len(votes))
        d.scores.append(None)
        d.votes.append(votes)
    return d


def test_unanimous_right_votes_give_a_flat_perfect_curve():
    curve = label_curve(data([(True, [True] * 3), (False, [False] * 3)]), k=3, draws=50, seed=0)
    assert curve == {"n": 2, "votes": [1, 2, 3], "kappa": [1.0, 1.0, 1.0], "auroc": [1.0, 1.0, 1.0]}


def test_one_split_item_by_hand():
    # A (gold yes) votes yes,yes,yes; B (gold no) no,no,no; C (gold yes) yes,no,no.
    # 3 votes: C's share 1/3 -> majority no: predictions (yes, no, no) vs gold (yes, no, yes): kappa 0.4; AUROC 1.
    # 1 vote: C says yes with p 1/3 (kappa 1, AUROC 1), else no (kappa 0.4; C ties B at 0: AUROC 0.75)
    #   -> kappa 1/3 + 2/3 * 0.4 = 0.6, AUROC 1/3 + 2/3 * 0.75 = 5/6.
    # 2 votes: C's share is 1/2 (p 2/3) or 0 (p 1/3): never a majority -> kappa 0.4; AUROC 2/3 * 1 + 1/3 * 0.75.
    d = data([(True, [True, True, True]), (False, [False, False, False]), (True, [True, False, False])])
    curve = label_curve(d, k=3, draws=3000, seed=1)
    assert curve is not None
    k1, k2, k3 = curve["kappa"]
    a1, a2, a3 = curve["auroc"]
    assert k3 == 0.4 and a3 == 1.0
    assert k2 == 0.4 and a2 == pytest.approx(2 / 3 + 0.25, abs=0.02)
    assert k1 == pytest.approx(0.6, abs=0.02) and a1 == pytest.approx(5 / 6, abs=0.02)
    # the threshold rule at 0.5 counts a 1-of-2 split as yes: C is then right whenever it draws its yes vote
    th = label_curve(d, k=3, draws=3000, seed=1, vote_rule="threshold", threshold=0.5)
    assert th is not None and th["kappa"][1] == pytest.approx(2 / 3 * 1 + 1 / 3 * 0.4, abs=0.02)


def test_unparsed_votes_are_left_out_of_the_share():
    d = data([(True, [True, None]), (False, [None, False]), (True, [None, None])])
    curve = label_curve(d, k=2, draws=200, seed=0)
    assert curve is not None and curve["kappa"] == [1.0, 1.0] and curve["auroc"] == [1.0, 1.0]


def test_votes_curve_report_scales_cost_and_needs_k_votes():
    d = data([(True, [True, True, False]), (False, [False, True, False]), (False, [False] * 3)])
    report = votes_curve(
        {"af_partial": d, "noncompliant": data([(True, [True])])},
        k=3,
        draws=100,
        seed=0,
        calls_per_transcript=7.5,
        tokens_per_transcript=3000.0,
    )
    assert report is not None
    assert list(report["labels"]) == ["af_partial"], "a label without k stored votes has no curve"
    assert report["calls_per_transcript"] == [2.5, 5.0, 7.5]
    assert report["tokens_per_transcript"] == [1000.0, 2000.0, 3000.0]
    assert report["labels"]["af_partial"]["kappa"][2] == 1.0
    table = curve_markdown(report)
    assert "| 3 | 7.5 | 3000.0 | 1.0 | 1.0 |" in table
    assert votes_curve({"af_partial": d}, k=1) is None
    assert votes_curve({"af_partial": data([(True, [True])])}, k=3) is None
