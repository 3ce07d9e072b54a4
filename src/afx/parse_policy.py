"""The per-model parse policy (`model.parse.*`): how one turn of model text becomes reasoning, a final output or
a failure status, under the strict rules of paper.md 1.7 or with the leniencies real models need.

One rule set serves the sampling loop (`parse_turn`, turn by turn) and labelled text (`parse_text`, a whole
transcript as one turn). Strict rules: reasoning is the closed `<SCRATCHPAD_REASONING>` blocks (and `<think>`
blocks), the output is the last `<OUTPUT>...</OUTPUT>` after the last closed scratchpad, a turn that ends on a
closed scratchpad continues, anything else fails. Each leniency that changes what is read is recorded as a
repair (REPAIR_KINDS); reading `<think>` blocks as reasoning is not a repair. A turn cut by the token limit
(finish reason "length") without a complete `<OUTPUT>` is `truncated` and never repaired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from afx.errors import AfxError
from afx.transcript import (
    OUTPUT_CLOSE,
    OUTPUT_OPEN,
    SCRATCH_CLOSE,
    SCRATCH_OPEN,
    Status,
    canonical_tags,
    extract_output,
    extract_reasoning,
    has_open_output,
    think_tags,
    turn_outcome,
)

THINK_OPEN = "<think>"
REPAIR_KINDS = ("tag_case", "output_closed_at_eos", "untagged_output", "bare_output")
_CUT_AWAY = frozenset(("output_closed_at_eos", "untagged_output", "bare_output"))  # never applied to a cut turn
_MALFORMED = (Status.UNCLOSED_TAG, Status.NO_OUTPUT)


@dataclass(frozen=True)
class ParsePolicy:
    """Which leniencies apply. `strict` (the default) turns every leniency off: paper.md 1.7's rules.

    tag_case: `<output>`, `<Scratchpad_Reasoning>` ... read in their canonical upper case (repair `tag_case`).
    close_output_at_eos: an `<OUTPUT>` left open when the model stopped on its own (finish reason "stop") is
        closed (repair `output_closed_at_eos`).
    untagged_output: plain text after the last reasoning block (this turn's or an earlier turn's), with no
        `<OUTPUT>` at all, is the output (repair `untagged_output`).
    bare_output: a transcript with no reasoning and no tags at all is one bare answer (repair `bare_output`).
    think_blocks: `<think>` blocks act like scratchpad blocks: a turn of reasoning only continues, the output is
        read after the last one, an unclosed one is an unclosed tag, and a `</think>` with no `<think>` before
        it closes reasoning that the chat template opened (DeepSeek-R1 style). Not a repair.
    """

    strict: bool = True
    tag_case: bool = False
    close_output_at_eos: bool = False
    untagged_output: bool = False
    bare_output: bool = False
    think_blocks: bool = False

    def __post_init__(self) -> None:
        if self.strict:
            for name in LENIENCIES:
                object.__setattr__(self, name, False)

    @classmethod
    def from_model_config(cls, model_cfg: Mapping[str, Any] | None) -> ParsePolicy:
        """The policy of a model config's `parse:` section; None, no section or no leniency on -> strict.

        An unknown key or a value that is not true/false is an AfxError naming the key and the known keys.
        """
        name = str((model_cfg or {}).get("name") or "?")
        section = (model_cfg or {}).get("parse") or {}
        if not isinstance(section, Mapping):
            raise AfxError(f"model {name}: model.parse must be a mapping of {', '.join(PARSE_KEYS)}, got {section!r}")
        for key, value in section.items():
            if key not in PARSE_KEYS:
                raise AfxError(
                    f"model {name}: unknown parse policy key 'model.parse.{key}' (known keys: {', '.join(PARSE_KEYS)})"
                )
            if value is not None and not isinstance(value, bool):
                raise AfxError(f"model {name}: model.parse.{key} must be true or false, got {value!r}")
        flags = {key: bool(section.get(key)) for key in LENIENCIES}
        return cls(strict=bool(section.get("strict")) or not any(flags.values()), **flags)

    def as_dict(self) -> dict[str, bool]:
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}


PARSE_KEYS = tuple(f.name for f in fields(ParsePolicy))
LENIENCIES = PARSE_KEYS[1:]
STRICT = ParsePolicy()


@dataclass(frozen=True)
class TurnParse:
    """One turn as read: the text kept (tags canonicalised, an open <OUTPUT> closed, an implied <think> opened),
    "output" / "continue" or a failure status, the output, and the repairs applied."""

    turn: str
    outcome: str
    output: str | None = None
    repairs: tuple[str, ...] = ()


@dataclass
class ParseResult:
    """A whole text read as a finished transcript (`parse_text`)."""

    status: str
    output: str | None
    reasoning: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    text: str = ""  # the text as kept (see TurnParse.turn)


def _last_output(tail: str) -> str:
    end = tail.rfind(OUTPUT_CLOSE)
    start = tail.rfind(OUTPUT_OPEN, 0, end)
    return tail[(0 if start < 0 else start + len(OUTPUT_OPEN)) : end].strip()


def _done(turn: str, outcome: str, output: str | None, repairs: list[str], finish_reason: str) -> TurnParse:
    """The final word on a turn: an empty output is `empty`; a cut turn is `truncated`, never repaired."""
    if outcome == "output" and not output:
        outcome, output = Status.EMPTY.value, None
    if finish_reason == "length" and (outcome in _MALFORMED or _CUT_AWAY.intersection(repairs)):
        return TurnParse(turn, Status.TRUNCATED.value, None, tuple(r for r in repairs if r not in _CUT_AWAY))
    return TurnParse(turn, str(outcome), output if outcome == "output" else None, tuple(repairs))


def parse_turn(
    turn: str,
    policy: ParsePolicy = STRICT,
    finish_reason: str = "stop",
    *,
    prefill: str = "",
    after_reasoning: bool = False,
) -> TurnParse:
    """Read one assistant turn (the prefill and what the model wrote after it).

    `after_reasoning`: an earlier turn of this transcript closed a reasoning block (plain text now is an
    untagged answer, not a bare one).
    """
    repairs: list[str] = []
    if policy.tag_case and (fixed := canonical_tags(turn)) != turn:
        turn = fixed
        repairs.append("tag_case")
    start = len(prefill) if prefill and turn.startswith(prefill) else 0
    if not turn[start:].strip():
        return TurnParse(turn, Status.EMPTY.value, None, tuple(repairs))
    if policy.strict or not policy.think_blocks and not policy.untagged_output and not policy.bare_output:
        outcome = turn_outcome(turn)
        if outcome == "output":
            return _done(turn, "output", extract_output(turn), repairs, finish_reason)
        if policy.close_output_at_eos and finish_reason == "stop" and has_open_output(turn):
            repairs.append("output_closed_at_eos")
            turn += "\n" + OUTPUT_CLOSE
            return _done(turn, "output", extract_output(turn), repairs, finish_reason)
        return _done(turn, str(outcome), None, repairs, finish_reason)
    return _lenient(turn, policy, finish_reason, start, after_reasoning, repairs)


def _lenient(
    turn: str, policy: ParsePolicy, finish_reason: str, start: int, after_reasoning: bool, repairs: list[str]
) -> TurnParse:
    tags = think_tags(turn) if policy.think_blocks else []
    if tags and tags[0][2]:  # a </think> first: the chat template opened the block in the prompt (DeepSeek-R1)
        turn = turn[:start] + THINK_OPEN + turn[start:]
        tags = think_tags(turn)
    closes = sum(closing for _, _, closing in tags)
    if turn.count(SCRATCH_OPEN) > turn.count(SCRATCH_CLOSE) or len(tags) - closes > closes:
        return _done(turn, Status.UNCLOSED_TAG.value, None, repairs, finish_reason)
    end = turn.rfind(SCRATCH_CLOSE)
    end = end + len(SCRATCH_CLOSE) if end >= 0 else 0
    if closes:
        end = max(end, max(tag_end for _, tag_end, closing in tags if closing))
    reasoned_here = end > 0
    tail = turn[end:]
    if OUTPUT_CLOSE in tail:
        return _done(turn, "output", _last_output(tail), repairs, finish_reason)
    if OUTPUT_OPEN in tail:
        if policy.close_output_at_eos and finish_reason == "stop":
            repairs.append("output_closed_at_eos")
            output = _last_output(tail + OUTPUT_CLOSE)
            return _done(turn + "\n" + OUTPUT_CLOSE, "output", output, repairs, finish_reason)
        return _done(turn, Status.UNCLOSED_TAG.value, None, repairs, finish_reason)
    rest = (tail if reasoned_here else turn[start:]).strip()  # the prefill is ours, not part of an answer
    if not rest:
        return _done(turn, "continue" if reasoned_here else Status.NO_OUTPUT.value, None, repairs, finish_reason)
    if reasoned_here or after_reasoning:
        if policy.untagged_output:
            repairs.append("untagged_output")
            return _done(turn, "output", rest, repairs, finish_reason)
        return _done(turn, "continue" if reasoned_here else Status.NO_OUTPUT.value, None, repairs, finish_reason)
    if policy.bare_output:
        repairs.append("bare_output")
        return _done(turn, "output", rest, repairs, finish_reason)
    return _done(turn, Status.NO_OUTPUT.value, None, repairs, finish_reason)


def parse_text(text: str, policy: ParsePolicy = STRICT, finish_reason: str = "stop") -> ParseResult:
    """A whole transcript's text (e.g. a labelled item) read as one finished turn under `policy`.

    A text that ends on reasoning with no answer is `turn_limit` (the loop would have continued).
    """
    parsed = parse_turn(text, policy, finish_reason)
    status = {"output": Status.OK.value, "continue": Status.TURN_LIMIT.value}.get(parsed.outcome, parsed.outcome)
    return ParseResult(status, parsed.output, extract_reasoning(parsed.turn), list(parsed.repairs), parsed.turn)
