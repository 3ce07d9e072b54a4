"""Table-driven parser tests: turn outcomes, final-output extraction, and whole-loop statuses."""

from __future__ import annotations

import pytest

from afx.backends.base import Generation, GenerationRequest
from afx.parse_policy import ParsePolicy
from afx.sampling import CachedBackend, SamplingPlan, sample_transcript
from afx.transcript import Status, Transcript, extract_output, extract_reasoning, turn_outcome

S, E = "<SCRATCHPAD_REASONING>", "</SCRATCHPAD_REASONING>"


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        pytest.param(f"{S}think{E}", "continue", id="closed_scratchpad"),
        pytest.param(f"{S}think{E}\n<OUTPUT>hi</OUTPUT>", "output", id="scratchpad_then_output"),
        pytest.param("<OUTPUT>hi</OUTPUT>", "output", id="output_only"),
        pytest.param(f"{S}think and never stop", Status.UNCLOSED_TAG, id="unclosed_scratchpad"),
        pytest.param(f"{S}think{E}\n<OUTPUT>cut off", Status.UNCLOSED_TAG, id="unclosed_output"),
        pytest.param("Just an answer with no tags.", Status.NO_OUTPUT, id="no_tags"),
        pytest.param("   \n ", Status.EMPTY, id="whitespace"),
        pytest.param(f"{S}I will write <OUTPUT> later{E}", "continue", id="output_tag_mentioned_inside_reasoning"),
        pytest.param(f"{S}a{E}{S}b{E}", "continue", id="two_closed_blocks"),
    ],
)
def test_turn_outcome(turn, expected):
    assert turn_outcome(turn) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{S}x{E}<OUTPUT>final</OUTPUT>", "final"),
        (f"{S}I could say <OUTPUT>fake</OUTPUT> here{E}\n<OUTPUT>real</OUTPUT>", "real"),
        (f"{S}x{E}\n<OUTPUT>\n  spaced  \n</OUTPUT>", "spaced"),
        (f"{S}x{E}<OUTPUT>one</OUTPUT> <OUTPUT>two</OUTPUT>", "two"),
        (f"{S}x{E}no output at all", None),
        (f"{S}<OUTPUT>inside only</OUTPUT>{E}", None),
    ],
)
def test_extract_output_after_last_scratchpad(text, expected):
    assert extract_output(text) == expected


def test_extract_reasoning_keeps_order():
    assert extract_reasoning(f"{S} a {E}\n<NEXT/>\n{S}b{E}<OUTPUT>o</OUTPUT>") == ["a", "b"]


class Replay:
    """A fake model: replays continuations; an Exception item is raised instead."""

    name = "replay"

    def __init__(self, replies):
        self.replies = list(replies)

    def identity(self):
        return {"backend": "replay"}

    def generate(self, request: GenerationRequest, seed: int) -> Generation:
        item = self.replies.pop(0)
        if isinstance(item, Exception):
            raise item
        return Generation(item)


PLAN = SamplingPlan(
    system="sys",
    first_prefill="<",
    next_prefill="<",
    prefix=None,
    prefix_continuation="next_turn",
    max_turns=3,
    params={},
)


@pytest.mark.parametrize(
    ("replies", "status", "output"),
    [
        pytest.param(["OUTPUT>done</OUTPUT>"], "ok", "done", id="one_turn"),
        pytest.param([f"{S[1:]}a{E}", "OUTPUT>done</OUTPUT>"], "ok", "done", id="next_turn_then_output"),
        pytest.param([f"{S[1:]}a{E}"] * 3, "turn_limit", None, id="turn_limit"),
        pytest.param([f"{S[1:]}a never closed"], "unclosed_tag", None, id="unclosed"),
        pytest.param(["plain text, no tag"], "no_output", None, id="no_output"),
        pytest.param([""], "empty", None, id="empty_generation"),
        pytest.param(["OUTPUT></OUTPUT>"], "empty", None, id="empty_output"),
        pytest.param([RuntimeError("boom")] * 3, "error", None, id="error_after_retries"),
        pytest.param([RuntimeError("blip"), "OUTPUT>ok</OUTPUT>"], "ok", "ok", id="retry_then_ok"),
    ],
)
def test_loop_statuses(replies, status, output):
    backend = CachedBackend(Replay(replies), None, retries=2, retry_wait_s=0)
    t = sample_transcript(backend, PLAN, Transcript("q", "q", "train", "s", "none", "default"), "U", {})
    assert (t.status, t.output) == (status, output)
    if status == "error":
        assert backend.stats.failures == 1 and backend.stats.retries == 2 and "boom" in t.error
    if "retry" in str(replies):
        assert backend.stats.retry_reasons.get("RuntimeError", 0) >= 1


def test_lenient_parsing_is_opt_in_and_recorded():
    replies = [f"{S[1:]}a{E}", "output>done"]
    strict = sample_transcript(
        CachedBackend(Replay(list(replies)), None), PLAN, Transcript("q", "q", "train", "s", "none", "d"), "U", {}
    )
    assert strict.status == "no_output" and strict.repairs == []
    policy = ParsePolicy(strict=False, tag_case=True, close_output_at_eos=True)
    lenient_plan = SamplingPlan(**{**PLAN.__dict__, "parse": policy})
    lenient = sample_transcript(
        CachedBackend(Replay(list(replies)), None),
        lenient_plan,
        Transcript("q", "q", "train", "s", "none", "d"),
        "U",
        {},
    )
    assert lenient.status == "ok" and lenient.output == "done"
    assert lenient.repairs == ["tag_case", "output_closed_at_eos"]
    t = sample_transcript(
        CachedBackend(_LengthStop(), None), lenient_plan, Transcript("q", "q", "train", "s", "none", "d"), "U", {}
    )
    assert t.status == "truncated" and t.repairs == [], "a turn cut by max_tokens is never repaired"


class _LengthStop(Replay):
    def __init__(self):
        super().__init__([])

    def generate(self, request, seed):
        return Generation("OUTPUT>cut off by the token limit", finish_reason="length")


def test_think_blocks_count_as_reasoning():
    text = "<think>plan A</think>\n<OUTPUT>x</OUTPUT>"
    assert turn_outcome(text) == "output" and extract_reasoning(text) == ["plan A"]
