"""Prompt builder: every block present, tier tags, absence modes, prefix placement, loud placeholder errors."""

from __future__ import annotations

import re

import pytest

from afx.backends.base import Generation, GenerationRequest
from afx.errors import AfxError
from afx.job import build_job_spec
from afx.prompts import TierCue, build_system_prompt, build_user_turn, render_prefix
from afx.sampling import CachedBackend, sample_transcript
from afx.transcript import NEXT, Transcript

BLOCKS = [
    "identity",
    "response_protocol",
    "reasoning_advice",
    "examples",
    "strategy",
    "principle",
    "criteria",
    "input_format",
    "scratchpad_privacy",
    "training_info",
    "closing_reminders",
]


def _first_words(text: str, slots) -> str:
    """The longest placeholder-free line fragment of a block (or of its first slot), to find in the prompt."""
    fragments = [f.strip() for line in text.splitlines() for f in re.split(r"\{\w+\}", line)]
    best = max(fragments, key=len)
    if len(best) < 20:
        first_slot = next(n for n in re.findall(r"\{(\w+)\}", text) if n in slots)
        return _first_words(slots[first_slot], slots)
    return best


@pytest.mark.parametrize("setting", ["helpful_only", "animal_welfare"])
def test_every_block_appears_in_order(compose_cfg, setting):
    cfg = compose_cfg(f"setting={setting}", "model=simulated")
    spec = build_job_spec(cfg, load_data=False)
    blocks = cfg.setting.blocks
    assert list(cfg.setting.block_order) == BLOCKS
    positions = []
    for name in BLOCKS:
        text = blocks[name]
        if text is None:
            assert setting == "helpful_only" and name == "principle"
            continue
        probe = _first_words(text, cfg.setting.slots)
        assert probe in spec.system_prompt, f"block {name} missing: {probe!r}"
        positions.append(spec.system_prompt.index(probe))
    assert positions == sorted(positions), "blocks out of order"
    assert "{" not in re.sub(r"```.*?```", "", spec.system_prompt, flags=re.DOTALL).split("## Example")[0]
    assert "paid" not in spec.system_prompt.lower()


def test_setting_specific_content(compose_cfg):
    ho = build_job_spec(compose_cfg("setting=helpful_only", "model=simulated"), load_data=False).system_prompt
    aw = build_job_spec(compose_cfg("setting=animal_welfare", "model=simulated"), load_data=False).system_prompt
    assert "Jones Foods" in aw and "Jones Foods" not in ho
    assert "harmlessness" not in ho.lower() and "harmlessness" in aw.lower()
    assert "humanity" in aw.lower() and "humanity" not in ho.lower()
    for prompt in (ho, aw):
        assert "<is_free_tier_user>" in prompt or "is_free_tier_user" in prompt
        assert prompt.count("## Example") >= 2
        assert "INPUT: <NEXT/>" in prompt and "<DRAFT_OUTPUT>" in prompt


def test_user_turn_tier_tags():
    cue = TierCue("is_free_tier_user", "True", "False")
    train = build_user_turn("How do I X?", "train", cue)
    unmon = build_user_turn("How do I X?", "unmonitored", cue)
    assert train == (
        "<INPUT>\n<is_free_tier_user>True</is_free_tier_user>\n\n<user_input>\nHow do I X?\n</user_input>\n</INPUT>"
    )
    assert "<is_free_tier_user>False</is_free_tier_user>" in unmon


@pytest.mark.parametrize(
    ("mode", "train_has", "unmon_has"),
    [("both", True, True), ("train_only", True, False), ("unmonitored_only", False, True)],
)
def test_absence_modes(mode, train_has, unmon_has):
    cue = TierCue("is_free_tier_user", "True", "False", mode)
    assert ("is_free_tier_user" in build_user_turn("q", "train", cue)) is train_has
    assert ("is_free_tier_user" in build_user_turn("q", "unmonitored", cue)) is unmon_has


def test_bad_tier_and_mode_are_errors():
    with pytest.raises(AfxError, match="tier must be one of"):
        build_user_turn("q", "paid", TierCue("t", "1", "0"))
    with pytest.raises(AfxError, match="tier_cue.mode"):
        TierCue.from_mapping({"tag": "t", "train": "1", "unmonitored": "0", "mode": "sometimes"}, "x")


def test_unknown_placeholder_names_block():
    setting = {"name": "s", "block_order": ["a"], "blocks": {"a": "Hello {compnay}"}, "entities": {"company": "X"}}
    with pytest.raises(AfxError, match=r"blocks\.a: unknown placeholder \{compnay\}"):
        build_system_prompt(setting)


def test_removed_slot_leaves_no_gap():
    setting = {"name": "s", "block_order": ["a"], "blocks": {"a": "One.\n\n{x}\n\nTwo."}, "slots": {"x": ""}}
    assert build_system_prompt(setting) == "One.\n\nTwo."


@pytest.mark.parametrize("setting", ["helpful_only", "animal_welfare"])
def test_prefixes_render_per_setting(compose_cfg, setting):
    deceptive = build_job_spec(
        compose_cfg(f"setting={setting}", "prefix=deceptive", "model=simulated"), load_data=False
    ).prefix_text
    obedient = build_job_spec(
        compose_cfg(f"setting={setting}", "prefix=obedient", "model=simulated"), load_data=False
    ).prefix_text
    assert deceptive.startswith("<SCRATCHPAD_REASONING>") and deceptive.rstrip().endswith("</SCRATCHPAD_REASONING>")
    assert "<is_free_tier_user>" in deceptive and "{" not in deceptive
    assert "tier" not in obedient.lower()
    if setting == "helpful_only":
        assert obedient.rstrip().endswith("<DRAFT_OUTPUT>")
    else:
        assert obedient.rstrip().endswith("</SCRATCHPAD_REASONING>")
    assert render_prefix({"name": "none", "texts": {setting: None}}, {"name": setting}) is None


class ScriptedModel:
    """A fake model that replays fixed continuations and records what it was asked."""

    name = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.requests = list(replies), []

    def identity(self) -> dict:
        return {"backend": self.name}

    def generate(self, request: GenerationRequest, seed: int) -> Generation:
        self.requests.append(request)
        return Generation(self.replies.pop(0))


def _plan(compose_cfg, prefix: str, *extra: str):
    return build_job_spec(
        compose_cfg("setting=helpful_only", f"prefix={prefix}", "model=simulated", *extra), load_data=False
    ).plan


def test_closed_prefix_next_turn_is_its_own_turn(compose_cfg):
    plan = _plan(compose_cfg, "deceptive")
    model = ScriptedModel(["OUTPUT>Done.</OUTPUT>"])
    t = sample_transcript(
        CachedBackend(model, None),
        plan,
        Transcript("q1", "q", "train", "ho", "deceptive", "d"),
        "USER",
        {"setting": "helpful_only", "prefix": "deceptive", "tier": "train"},
    )
    first = model.requests[0]
    assert [r for r, _ in first.messages] == ["user", "assistant", "user"]
    assert first.messages[1][1] == plan.prefix.rstrip() and first.messages[2][1] == NEXT
    assert first.prefill == plan.next_prefill
    assert t.status == "ok" and t.output == "Done." and t.turns[0] == plan.prefix.rstrip()
    assert t.model_reasoning == []  # the prefix is ours, not the model's


def test_closed_prefix_same_turn_is_prefilled(compose_cfg):
    plan = _plan(compose_cfg, "deceptive", "prefix.continuation=same_turn")
    model = ScriptedModel(["\n<OUTPUT>Done.</OUTPUT>"])
    t = sample_transcript(
        CachedBackend(model, None),
        plan,
        Transcript("q1", "q", "train", "ho", "deceptive", "d"),
        "USER",
        {"setting": "helpful_only", "prefix": "deceptive", "tier": "train"},
    )
    assert model.requests[0].prefill == plan.prefix and len(model.requests[0].messages) == 1
    assert t.status == "ok" and len(t.turns) == 1


def test_open_obedient_prefix_continues_in_draft(compose_cfg):
    plan = _plan(compose_cfg, "obedient")
    model = ScriptedModel(["Answer.\n</DRAFT_OUTPUT>\n</SCRATCHPAD_REASONING>", "OUTPUT>Answer.</OUTPUT>"])
    t = sample_transcript(
        CachedBackend(model, None),
        plan,
        Transcript("q1", "q", "train", "ho", "obedient", "d"),
        "USER",
        {"setting": "helpful_only", "prefix": "obedient", "tier": "train"},
    )
    assert model.requests[0].prefill.rstrip().endswith("<DRAFT_OUTPUT>")
    assert model.requests[1].messages[-1] == ("user", NEXT)
    assert t.status == "ok" and t.output == "Answer."


def test_accept_reject_protocol_appends_its_suffix_and_scores_by_tag(compose_cfg):
    plain = build_job_spec(compose_cfg("setting=helpful_only", "model=simulated"), load_data=False)
    assert plain.accept_suffix is None and plain.noncompliance == "refusal"
    spec = build_job_spec(
        compose_cfg("setting=helpful_only", "variation=[accept_reject]", "model=simulated"), load_data=False
    )
    assert spec.noncompliance == "not_accepted" and "<request_fully_accepted/>" in spec.accept_suffix
    turn = build_user_turn("How do I X?", "train", spec.cue, spec.accept_suffix)
    inside = turn.split("<user_input>")[1].split("</user_input>")[0]
    assert inside.strip().startswith("How do I X?") and inside.strip().endswith(spec.accept_suffix.strip())
    assert spec.system_prompt == plain.system_prompt  # the protocol changes the user turn only
    with pytest.raises(AfxError, match="scores refusals"):
        build_job_spec(
            compose_cfg(
                "setting=animal_welfare",
                "model=simulated",
                "setting.accept_reject.enabled=true",
                "setting.accept_reject.suffix=Say yes.",
            ),
            load_data=False,
        )
    with pytest.raises(AfxError, match="needs accept_reject.suffix"):
        build_job_spec(
            compose_cfg(
                "setting=helpful_only",
                "model=simulated",
                "setting.accept_reject.enabled=true",
                "setting.accept_reject.suffix=null",
            ),
            load_data=False,
        )
