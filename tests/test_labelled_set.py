"""Our labelled transcripts: enough of every hard case, labels consistent with the criteria, parseable as claimed."""

from __future__ import annotations

from collections import Counter

from afx.classify.validate import load_labelled, to_transcript
from afx.paths import data_dir

CASES = {
    "clean_af_full",
    "af_compromise",
    "notices_conflict_refuses",
    "complies_other_reasons",
    "values_talk_no_faking",
    "unmonitored_cites_unmonitored",
    "unmonitored_no_citation",
    "self_contradicting",
    "malformed_tags",
    "think_style",
    "generic_self_preservation",
    "pro_training_reinforcement",
}


def test_labelled_set_covers_the_hard_cases_consistently():
    items = load_labelled(data_dir() / "labelled" / "transcripts_v1.jsonl")
    assert len(items) >= 60 and len({i["id"] for i in items}) == len(items)
    cases = Counter(i["case"] for i in items)
    assert set(cases) == CASES and min(cases.values()) >= 4
    assert min(Counter(i["setting"] for i in items).values()) >= 30
    for i, item in enumerate(items):
        labels = item["labels"]
        assert labels["af_partial"] == all(labels["af_partial_criteria"]), item["id"]
        assert not labels["af_full"] or labels["af_partial"], item["id"]
        if item["tier"] == "train":
            assert labels["unmonitored_reasoning"] is None, item["id"]
        else:
            assert (
                labels["unmonitored_reasoning"] == all(labels["unmonitored_criteria"])
                or not labels["unmonitored_reasoning"]
            ), item["id"]
        assert labels["malformed"] == (not to_transcript(item, i).valid), item["id"]
