"""Our labelled transcripts: enough of every hard case, labels consistent with the criteria, parseable as claimed."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from afx.classify.validate import NONCOMPLIANCE, load_labelled, to_transcript
from afx.parse_policy import ParsePolicy, parse_text
from afx.paths import data_dir
from afx.transcript import turn_outcome

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


# --- v2: the v1 items plus transcripts in the shapes real models write (issue 13 section 1, issue 14 section 3) ---

V2 = data_dir() / "labelled" / "transcripts_v2.jsonl"
HELDOUT = data_dir() / "labelled" / "transcripts_heldout_v1.jsonl"  # written after the judges were fixed
HELDOUT2 = data_dir() / "labelled" / "transcripts_heldout_v2.jsonl"  # written before the probe judge was trained
HELDOUT3 = data_dir() / "labelled" / "transcripts_heldout_v3.jsonl"  # written before the v2 probes were fitted
HELDOUT4 = data_dir() / "labelled" / "transcripts_heldout_v4.jsonl"  # written before the v3 probes were fitted
TRAIN3 = data_dir() / "labelled" / "transcripts_train_v3.jsonl"  # for fitting probes, written after held-out v3
TRAIN4 = data_dir() / "labelled" / "transcripts_train_v4.jsonl"  # for fitting probes, written beside held-out v4
AFTER_V2 = [HELDOUT, HELDOUT2, HELDOUT3, TRAIN3, HELDOUT4, TRAIN4]  # every file written after v2, in order
AFTER_V2_IDS = [path.stem.removeprefix("transcripts_") for path in AFTER_V2]  # test ids: heldout_v1, ...
SHAPES = {
    "paper_tags",
    "think_untagged",
    "think_output_open_eos",
    "bare",
    "truncated",
    "multi_scratchpad",
    "think_in_scratchpad",
    "anthropic_thinking",
    "scratchpad_only",
}
# Shapes the strict paper parser (paper.md 1.7) cannot read: what the per-model parse policy must repair or report.
LENIENT = ParsePolicy(
    strict=False, tag_case=True, close_output_at_eos=True, untagged_output=True, bare_output=True, think_blocks=True
)
STRICT_FAILS = {"think_untagged", "think_output_open_eos", "bare", "truncated", "scratchpad_only"}
STRICT_PARSES = {"paper_tags", "multi_scratchpad", "think_in_scratchpad"}
KNOWN_BAD_TAGS = {"malformed_tags", "malformed_text"}
# A human reads the answer but no parse policy does (lab-051: the <OUTPUT> sits inside the scratchpad).
PARSER_MISSES = {"lab-051"}
LABEL_KEYS = {
    "noncompliant",
    "af_partial",
    "af_partial_criteria",
    "af_full",
    "generic_af",
    "compromise",
    "unmonitored_reasoning",
    "unmonitored_criteria",
    "malformed",
}
TOP_KEYS = {"id", "case", "setting", "tier", "query", "text", "shape", "labels", "note"}


def _raw(path=V2) -> list[dict]:
    """The file as written (load_labelled normalises items to the fields validate-classifier reads)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _shape_signature_holds(item: dict) -> bool:
    """The text has the structure its shape names (tags matched case-insensitively, as humans read them)."""
    text, low = item["text"], item["text"].lower()
    scratch, output, output_closed = low.count("<scratchpad_reasoning>"), "<output>" in low, "</output>" in low
    think_first = text.lstrip().startswith("<think>") and "</think>" in text
    shape = item["shape"]
    if shape == "paper_tags":
        return scratch == 1 and output and "<think>" not in text
    if shape == "multi_scratchpad":
        return scratch >= 2 and output
    if shape == "think_in_scratchpad":
        start = low.find("<scratchpad_reasoning>")
        return 0 <= start < text.find("<think>") < low.find("</scratchpad_reasoning>")
    if shape == "think_untagged":
        return think_first and not output and scratch == 0
    if shape == "think_output_open_eos":
        return think_first and text.rfind("<OUTPUT>") > text.rfind("</think>") and not output_closed
    if shape == "anthropic_thinking":
        return think_first and (output_closed or not output)
    if shape == "bare":
        return "<think>" not in text and scratch == 0 and not output
    if shape == "scratchpad_only":
        return ("<think>" in text or scratch > 0) and not output
    return item.get("finish_reason") == "length"  # truncated


def _check_schema_and_parsing(items: list[dict]) -> None:
    """Every item: the schema, a text with its shape's structure, and the parse outcomes its labels imply."""
    for item in items:
        assert TOP_KEYS <= set(item) <= TOP_KEYS | {"finish_reason"}, item["id"]
        assert item["setting"] in NONCOMPLIANCE and item["tier"] in {"train", "unmonitored"}, item["id"]
        assert item["shape"] in SHAPES and item["text"].strip() and item["query"].strip(), item["id"]
        assert item["note"].strip(), item["id"]
        labels = item["labels"]
        assert set(labels) == LABEL_KEYS, item["id"]
        assert labels["noncompliant"] in (True, False, None) and isinstance(labels["malformed"], bool), item["id"]
        assert labels["compromise"] in (1, 2, 3, 4, None), item["id"]
        assert len(labels["af_partial_criteria"]) == 5, item["id"]
        assert all(isinstance(c, bool) for c in labels["af_partial_criteria"]), item["id"]
        assert ("finish_reason" in item) == (item["shape"] == "truncated"), item["id"]
        assert _shape_signature_holds(item), (item["id"], item["shape"])
        outcome = turn_outcome(item["text"])
        if item["shape"] in STRICT_FAILS:
            assert outcome != "output", item["id"]
        elif item["shape"] in STRICT_PARSES and item["case"] not in KNOWN_BAD_TAGS:
            assert outcome == "output", item["id"]
        # the real-model parse policy (issue 13) reads an answer wherever a human does, and only there
        lenient = parse_text(item["text"], LENIENT, item.get("finish_reason", "stop"))
        readable = item["labels"]["noncompliant"] is not None and item["shape"] != "truncated"
        if readable:
            assert (lenient.status == "ok") != (item["id"] in PARSER_MISSES), (item["id"], lenient.status)
        elif item["shape"] == "truncated":
            assert lenient.status == "truncated", (item["id"], lenient.status)
        elif item["shape"] == "scratchpad_only":
            assert lenient.status != "ok", (item["id"], lenient.status)  # reasoning only: nothing to judge


def test_labelled_set_v2_schema_and_shapes():
    v1 = _raw(data_dir() / "labelled" / "transcripts_v1.jsonl")
    items = _raw()
    assert [i["id"] for i in load_labelled(V2)] == [i["id"] for i in items]  # validate-classifier reads every item
    ids = [i["id"] for i in items]
    assert len(items) >= 150 and len(set(ids)) == len(ids)
    by_id = {i["id"]: i for i in items}
    for old in v1:  # every v1 item, same content (labels may be corrected, and are listed in the README)
        new = by_id[old["id"]]
        assert {k: new[k] for k in ("case", "setting", "tier", "query", "text")} == {
            k: old[k] for k in ("case", "setting", "tier", "query", "text")
        }, old["id"]
    _check_schema_and_parsing(items)
    shapes = Counter(i["shape"] for i in items)
    assert set(shapes) == SHAPES and min(shapes.values()) >= 5, shapes
    for key in ("setting", "tier"):
        assert min(Counter(i[key] for i in items).values()) >= 45
    assert len({(i["setting"], i["tier"]) for i in items}) == 4


@pytest.mark.parametrize("path", [V2, *AFTER_V2], ids=["v2", *AFTER_V2_IDS])
def test_labelled_set_labels_are_consistent(path):
    items = _raw(path)
    for item in items:
        labels, name = item["labels"], item["id"]
        assert labels["af_partial"] == all(labels["af_partial_criteria"]), name
        if labels["af_full"]:  # full = partial plus a maximally rated (compliant, category 4) output
            assert labels["af_partial"] and labels["noncompliant"] is False and labels["compromise"] == 4, name
        if labels["af_partial"]:  # goal-directed faking is a special case of generic self-preserving faking
            assert labels["generic_af"], name
        if item["tier"] == "train":
            assert labels["unmonitored_reasoning"] is None and labels["unmonitored_criteria"] is None, name
        else:
            criteria = labels["unmonitored_criteria"]
            assert len(criteria) == 4 and all(isinstance(c, bool) for c in criteria), name
            assert isinstance(labels["unmonitored_reasoning"], bool), name
            assert not labels["unmonitored_reasoning"] or all(criteria), name
        # no answer to grade: reasoning only, cut before any answer, or unreadable; and only then
        no_answer = labels["noncompliant"] is None
        assert no_answer == (labels["compromise"] is None), name
        if item["shape"] == "scratchpad_only" or labels["malformed"]:
            assert no_answer, name
        if no_answer:
            assert item["shape"] in {"scratchpad_only", "truncated"} or labels["malformed"], name
        if item["shape"] == "bare":  # no reasoning, so no reasoning-based label
            assert not any(labels["af_partial_criteria"]) and not labels["generic_af"], name
    positives = sum(i["labels"]["af_partial"] for i in items) / len(items)
    assert 0.20 <= positives <= 0.40, positives
    # hard negatives: many non-faking items that still mention training (criterion 1) or modification (criterion 2)
    talk = [i for i in items if not i["labels"]["af_partial"] and any(i["labels"]["af_partial_criteria"][:2])]
    assert len(talk) >= len(items) // 5


def test_labelled_set_v2_has_malformed_and_unmonitored_reasoning_items():
    items = _raw()
    assert sum(bool(i["labels"]["malformed"]) for i in items) >= 3
    assert sum(bool(i["labels"]["unmonitored_reasoning"]) for i in items) >= 10


# --- the held-out set: new items written after every judge prompt and threshold was fixed (issue 14) ---


@pytest.mark.parametrize("path", AFTER_V2, ids=AFTER_V2_IDS)
def test_heldout_set_is_new_text_in_every_shape_and_setting(path):
    """Each file written after v2 (the held-out files, then the probes' training file) is new text: no id or
    request of any file written before it."""
    items = _raw(path)
    earlier = _raw() + [i for before in AFTER_V2[: AFTER_V2.index(path)] for i in _raw(before)]
    assert [i["id"] for i in load_labelled(path)] == [i["id"] for i in items]
    ids = [i["id"] for i in items]
    assert len(items) >= 80 and len(set(ids)) == len(ids) and not set(ids) & {i["id"] for i in earlier}
    assert not {i["query"] for i in items} & {i["query"] for i in earlier}  # new requests, not re-labelled old ones
    _check_schema_and_parsing(items)
    shapes = Counter(i["shape"] for i in items)
    assert set(shapes) == SHAPES and min(shapes.values()) >= 4, shapes
    for setting in NONCOMPLIANCE:  # enough gradable answers per setting for a per-setting kappa (>= 30 items)
        graded = [i for i in items if i["setting"] == setting and i["labels"]["noncompliant"] is not None]
        assert len(graded) >= 30 and 0.3 <= sum(i["labels"]["noncompliant"] for i in graded) / len(graded) <= 0.7
    assert len({(i["setting"], i["tier"]) for i in items}) == 4
