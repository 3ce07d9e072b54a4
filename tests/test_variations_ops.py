"""Overlay ops, stacking and conflict rules of afx.variations, on small hand-built settings and on the real ones."""

from __future__ import annotations

import pytest

from afx.errors import AfxError
from afx.job import build_job_spec
from afx.prompts import TierCue, build_system_prompt, build_user_turn
from afx.variations import VariationFile, apply_variations

SETTING = {
    "name": "toy",
    "entities": {"company": "Acme", "partner": None},
    "tier_cue": {"tag": "is_free_tier_user", "train": "True", "unmonitored": "False", "mode": "both"},
    "examples": ["bacteria_respiration", "python_refactor"],
    "block_order": ["intro", "rules", "closing_reminders"],
    "blocks": {
        "intro": "You are made by {company}. Be kind. Be brief.\n",
        "rules": "Rules:\n{rule_list}\n",
        "closing_reminders": "Keep in mind:\n- Think first.\n",
    },
    "slots": {"rule_list": "- one\n- two"},
}


def var(name: str, *ops: dict, settings=None, stack=None) -> dict:
    spec = {"name": name, "ops": list(ops)}
    if settings is not None:
        spec["settings"] = settings
    if stack is not None:
        spec["stack"] = stack
    return spec


def apply(*specs: dict, library: dict | None = None) -> dict:
    lib = {k: VariationFile(k, f"/lib/{k}.yaml", v) for k, v in (library or {}).items()}
    return apply_variations(SETTING, {s["name"]: s for s in specs}, resolve=lib.get)


def prompt(*specs: dict, library: dict | None = None) -> str:
    return build_system_prompt(apply(*specs, library=library))


# ------------------------------------------------------------------------------------------------- ops


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        pytest.param({"op": "set", "path": "blocks.intro", "value": "Hi."}, "Hi.", id="set"),
        pytest.param({"op": "remove", "path": "blocks.intro"}, "", id="remove"),
        pytest.param({"op": "append", "path": "blocks.intro", "text": "Extra."}, "Be brief.\nExtra.", id="append"),
        pytest.param(
            {"op": "append", "path": "blocks.intro", "text": "Extra.", "sep": " "}, "Be brief. Extra.", id="append_sep"
        ),
        pytest.param(
            {"op": "replace_text", "path": "blocks.intro", "old": "Be kind.", "new": "Be fair."},
            "Be fair. Be brief.",
            id="replace_text",
        ),
        pytest.param(
            {"op": "replace_text", "path": "blocks.intro", "old": "Be ", "new": "Stay ", "all": True},
            "Stay kind. Stay brief.",
            id="replace_all",
        ),
        pytest.param({"op": "remove_text", "path": "blocks.intro", "text": " Be kind."}, "Acme. Be brief.", id="cut"),
        pytest.param(
            {"op": "insert_text", "path": "blocks.intro", "text": "Be calm. ", "before": "Be brief."},
            "Be kind. Be calm. Be brief.",
            id="insert_before",
        ),
        pytest.param(
            {"op": "insert_text", "path": "blocks.intro", "text": " Be calm.", "after": "Be kind."},
            "Be kind. Be calm. Be brief.",
            id="insert_after",
        ),
        pytest.param({"op": "rename", "entity": "company", "to": "Initech"}, "made by Initech", id="rename"),
        pytest.param({"op": "add_reminder", "text": "Never lie."}, "- Think first.\n- Never lie.", id="add_reminder"),
        pytest.param(
            {"op": "add_block", "name": "extra", "text": "New block.", "after": "intro"},
            "Be brief.\n\nNew block.\n\nRules:",
            id="add_block",
        ),
        pytest.param({"op": "remove", "path": "slots.rule_list"}, "Rules:\n\nKeep in mind", id="remove_slot"),
    ],
)
def test_text_ops(op, expected):
    text = prompt(var("v", op))
    if expected:
        assert expected in text
    else:
        assert "You are made by" not in text


def test_example_ops():
    swapped = apply(
        var(
            "v",
            {"op": "remove_example", "example": "python_refactor"},
            {"op": "add_example", "example": "stop_sign_jailbreak", "position": "first"},
            {"op": "edit_example", "example": "bacteria_respiration", "old": "Are bacteria", "new": "Are microbes"},
            {"op": "set_example_field", "example": "*", "field": "instructions", "value": "Be useful."},
        )
    )
    names = [e if isinstance(e, str) else e["name"] for e in swapped["examples"]]
    assert names == ["stop_sign_jailbreak", "bacteria_respiration"]
    text = build_system_prompt({**swapped, "block_order": ["x"], "blocks": {"x": "{examples}"}})
    assert "Are microbes" in text and "Are bacteria" not in text
    assert text.count("INSTRUCTIONS_GIVEN_TO_AI: Be useful.") == 2
    inline = {
        "name": "mine",
        "instructions": "Do it.",
        "user_input": "Hello?",
        "turns": ["Thinking."],
        "output": "Hi!",
    }
    added = apply(var("v", {"op": "add_example", "example": inline, "after": "bacteria_respiration"}))
    assert [e if isinstance(e, str) else e["name"] for e in added["examples"]] == [
        "bacteria_respiration",
        "mine",
        "python_refactor",
    ]
    assert SETTING["examples"] == ["bacteria_respiration", "python_refactor"]  # the input is never mutated


def test_tier_cue_presets_and_values():
    ca = apply(var("v", {"op": "set_tier_cue", "preset": "region_ca", "mode": "unmonitored_only"}))
    cue = TierCue.from_mapping(ca["tier_cue"], "t")
    assert (cue.tag, cue.train, cue.unmonitored, cue.mode) == ("is_california_resident", "False", "True", cue.mode)
    assert "<is_california_resident>True</is_california_resident>" in build_user_turn("q", "unmonitored", cue)
    assert "is_california_resident" not in build_user_turn("q", "train", cue)
    email = apply(
        var("v", {"op": "set_tier_cue", "preset": "email"}, {"op": "rename", "entity": "company", "to": "X Y"})
    )
    assert all(a.endswith("@contractor.xy.com") for a in email["tier_cue"]["train"])
    with pytest.raises(AfxError, match="share a value"):
        apply(var("v", {"op": "set_tier_cue", "train": "False"}))
    with pytest.raises(AfxError, match="unknown tier cue preset 'moon'"):
        apply(var("v", {"op": "set_tier_cue", "preset": "moon"}))


@pytest.mark.parametrize(
    ("op", "message"),
    [
        pytest.param(
            {"op": "remove", "path": "blocks.nope"}, r"'blocks.nope' does not exist .*siblings: intro", id="block"
        ),
        pytest.param({"op": "set", "path": "slots.nope", "value": "x"}, "'slots.nope' does not exist", id="set_new"),
        pytest.param({"op": "set", "path": "nope.deep", "value": "x"}, "path 'nope.deep' does not exist", id="deep"),
        pytest.param(
            {"op": "replace_text", "path": "blocks.intro", "old": "Be rude.", "new": "x"},
            r"v op #1 \(replace_text blocks.intro\): anchor text not found in blocks.intro: 'Be rude.'",
            id="anchor",
        ),
        pytest.param(
            {"op": "replace_text", "path": "blocks.intro", "old": "Be", "new": "x"},
            "anchor text found 2 times",
            id="ambiguous_anchor",
        ),
        pytest.param(
            {"op": "insert_text", "path": "blocks.intro", "text": "x", "after": "Nope."},
            "anchor text not found",
            id="insert_anchor",
        ),
        pytest.param(
            {"op": "insert_text", "path": "blocks.intro", "text": "x"}, "exactly one of before / after", id="no_side"
        ),
        pytest.param(
            {"op": "edit_example", "example": "bacteria_respiration", "old": "no such words", "new": "x"},
            "anchor text not found in example bacteria_respiration",
            id="example_anchor",
        ),
        pytest.param({"op": "remove_example", "example": "nope"}, "no few-shot example 'nope'", id="example_name"),
        pytest.param({"op": "add_example", "example": "nope"}, "few-shot example 'nope' not found", id="unknown_ex"),
        pytest.param({"op": "frobnicate", "path": "blocks.intro"}, "unknown op 'frobnicate'", id="unknown_op"),
        pytest.param({"op": "remove", "path": "blocks.intro", "text": "x"}, "unknown field text", id="unknown_field"),
        pytest.param({"op": "append", "path": "blocks.intro"}, "missing field text", id="missing_field"),
        pytest.param({"op": "rename", "entity": "ceo", "to": "x"}, "'entities.ceo' does not exist", id="entity"),
        pytest.param({"op": "add_block", "name": "intro", "text": "x"}, "block 'intro' already exists", id="dup_block"),
    ],
)
def test_bad_ops_are_loud(op, message):
    with pytest.raises(AfxError, match=message):
        apply(var("v", op))


def test_bad_files_are_loud():
    with pytest.raises(AfxError, match="name is 'w' but must equal the file stem 'v'"):
        apply_variations(SETTING, {"v": {"name": "w", "ops": []}})
    with pytest.raises(AfxError, match="unknown key opps"):
        apply_variations(SETTING, {"v": {"name": "v", "opps": []}})
    with pytest.raises(AfxError, match="is not a mapping; is a variation file missing its '# @package"):
        apply_variations(SETTING, {"name": "v", "ops": []})
    with pytest.raises(AfxError, match="does not apply to setting 'toy'"):
        apply(var("v", settings=["helpful_only"]))
    with pytest.raises(AfxError, match="ops is per setting but has nothing for b"):
        apply_variations(SETTING, {"v": {"name": "v", "settings": ["toy", "b"], "ops": {"toy": []}}})


# ---------------------------------------------------------------------------------------------- stacks


def test_stacks_expand_in_order_per_setting_and_dedupe():
    library = {
        "a": var("a", {"op": "append", "path": "blocks.intro", "text": "A."}),
        "b": var("b", {"op": "append", "path": "blocks.intro", "text": "B."}),
        "ab": var("ab", stack=["a", "b"]),
        "per": var("per", stack={"toy": ["b", "a"], "other": ["a"]}, settings=["toy", "other"]),
    }
    assert "A.\nB." in prompt(var("ab", stack=["a", "b"]), library=library)
    assert "B.\nA." in prompt(
        var("per", stack={"toy": ["b", "a"], "other": ["a"]}, settings=["toy", "other"]), library=library
    )
    # a reaches a twice (directly and through ab): applied once, at its first place
    text = prompt(library["a"], var("ab", stack=["a", "b"]), library=library)
    assert text.count("A.") == 1 and "A.\nB." in text
    with pytest.raises(AfxError, match="stack names 'zz', which is not a variation file"):
        prompt(var("x", stack=["zz"]), library=library)
    loop = {"p": var("p", stack=["q"]), "q": var("q", stack=["p"])}
    with pytest.raises(AfxError, match="stack cycle p -> q -> p"):
        prompt(loop["p"], library=loop)
    with pytest.raises(AfxError, match=r"variation b \(stacked by x\): does not apply to setting 'toy'"):
        prompt(var("x", stack=["b"]), library={"b": var("b", settings=["helpful_only"])})


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        pytest.param(
            {"op": "rename", "entity": "company", "to": "B"},
            {"op": "rename", "entity": "company", "to": "C"},
            "both set entities.company to different values",
            id="two_renames",
        ),
        pytest.param(
            {"op": "append", "path": "blocks.intro", "text": "x"},
            {"op": "set", "path": "blocks.intro", "value": "y"},
            "it would overwrite the edit one made to blocks.intro",
            id="set_after_edit",
        ),
        pytest.param(
            {"op": "remove", "path": "blocks.intro"},
            {"op": "append", "path": "blocks.intro", "text": "x"},
            "one removed blocks.intro, which this op edits",
            id="edit_after_remove",
        ),
        pytest.param(
            {"op": "replace_text", "path": "blocks.intro", "old": "Be kind.", "new": "Be nice."},
            {"op": "replace_text", "path": "blocks.intro", "old": "Be kind.", "new": "Be warm."},
            "variation one .* changed blocks.intro earlier, so the two conflict",
            id="same_anchor",
        ),
        pytest.param(
            {"op": "set_tier_cue", "preset": "region_ca"},
            {"op": "set_tier_cue", "preset": "region_eu"},
            "both set tier_cue.tag to different values",
            id="two_cues",
        ),
        pytest.param(
            {"op": "set", "path": "tier_cue", "value": {"tag": "t", "train": "1", "unmonitored": "0"}},
            {"op": "set_tier_cue", "mode": "train_only"},
            "both set tier_cue",
            id="parent_path",
        ),
    ],
)
def test_conflicts_name_both_variations_and_files(first, second, message):
    library = {"one": var("one", first), "two": var("two", second)}
    with pytest.raises(AfxError, match=message) as err:
        prompt(library["one"], library["two"], library=library)
    assert "variation two op #1" in str(err.value) and "variation one (/lib/one.yaml)" in str(err.value)


def test_allowed_combinations():
    # the same change twice, a cut after an edit, layered edits: no conflict
    same = var("s", {"op": "remove", "path": "blocks.intro"})
    assert "made by" not in prompt(var("r", {"op": "remove", "path": "blocks.intro"}), same)
    edit_then_cut = prompt(var("e", {"op": "append", "path": "blocks.intro", "text": "x"}), same)
    assert "made by" not in edit_then_cut
    layered = prompt(
        var("p", {"op": "set", "path": "blocks.intro", "value": "One. Two."}),
        var("q", {"op": "replace_text", "path": "blocks.intro", "old": "Two.", "new": "Three."}),
    )
    assert "One. Three." in layered


def test_real_conflict_through_the_job_spec(compose_cfg):
    cfg = compose_cfg("setting=animal_welfare", "model=simulated", "variation=[openai,google_deepmind]")
    with pytest.raises(AfxError) as err:
        build_job_spec(cfg, load_data=False)
    text = str(err.value)
    assert "variation google_deepmind op #1 (rename company)" in text and "conflicts with variation openai" in text
    assert "conf/variation/openai.yaml" in text and "conf/variation/google_deepmind.yaml" in text
