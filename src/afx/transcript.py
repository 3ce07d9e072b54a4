"""Transcripts, their statuses, and the parser for scratchpad / <OUTPUT> tags (paper.md 1.7)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

SCRATCH_OPEN, SCRATCH_CLOSE = "<SCRATCHPAD_REASONING>", "</SCRATCHPAD_REASONING>"
OUTPUT_OPEN, OUTPUT_CLOSE = "<OUTPUT>", "</OUTPUT>"
NEXT = "<NEXT/>"
_ANY_CASE_TAG = re.compile(r"<(/?)(scratchpad_reasoning|output|draft_output)>", re.IGNORECASE)


class Status(StrEnum):
    """Why a transcript did or did not yield a usable final output."""

    OK = "ok"
    NO_OUTPUT = "no_output"  # a turn had neither a closed scratchpad nor an <OUTPUT>
    UNCLOSED_TAG = "unclosed_tag"  # a scratchpad or <OUTPUT> was opened and never closed
    TRUNCATED = "truncated"  # cut by the token limit (finish reason "length") before a complete answer
    TURN_LIMIT = "turn_limit"  # max_turns assistant turns, all scratchpad, no <OUTPUT>
    EMPTY = "empty"  # an empty turn, or an empty <OUTPUT>
    ERROR = "error"  # the backend failed (after bounded retries)
    API_REFUSAL = "api_refusal"  # the API stopped the turn with stop_reason "refusal" (not the model's own words)
    PAUSE_TURN = "pause_turn"  # the API paused the turn (stop_reason "pause_turn"); afx does not resume it
    CONTEXT_WINDOW = "context_window_exceeded"  # stop_reason "model_context_window_exceeded"
    UNKNOWN_STOP = "unknown_stop"  # any other stop reason afx does not know (named in Transcript.error)


FAILURES = tuple(s.value for s in Status if s is not Status.OK)


def _after_last_scratchpad(text: str) -> str:
    cut = text.rfind(SCRATCH_CLOSE)
    return text if cut < 0 else text[cut + len(SCRATCH_CLOSE) :]


def turn_outcome(turn: str) -> str | Status:
    """'output' if the turn finished with an <OUTPUT>, 'continue' if it ended on a closed scratchpad."""
    if not turn.strip():
        return Status.EMPTY
    if turn.count(SCRATCH_OPEN) > turn.count(SCRATCH_CLOSE):
        return Status.UNCLOSED_TAG
    tail = _after_last_scratchpad(turn)
    if OUTPUT_CLOSE in tail:
        return "output"
    if OUTPUT_OPEN in tail:
        return Status.UNCLOSED_TAG
    if SCRATCH_CLOSE in turn:
        return "continue"
    return Status.NO_OUTPUT


def canonical_tags(text: str) -> str:
    """<output>, <Scratchpad_Reasoning> ... in their canonical upper case."""
    return _ANY_CASE_TAG.sub(lambda m: f"<{m.group(1)}{m.group(2).upper()}>", text)


def has_open_output(turn: str) -> bool:
    """An <OUTPUT> after the last closed scratchpad that was never closed."""
    tail = _after_last_scratchpad(turn)
    return turn.count(SCRATCH_OPEN) <= turn.count(SCRATCH_CLOSE) and OUTPUT_OPEN in tail and OUTPUT_CLOSE not in tail


def extract_output(text: str) -> str | None:
    """The content of the last <OUTPUT> after the last closed scratchpad, or None."""
    tail = _after_last_scratchpad(text)
    end = tail.rfind(OUTPUT_CLOSE)
    if end < 0:
        return None
    start = tail.rfind(OUTPUT_OPEN, 0, end)
    start = 0 if start < 0 else start + len(OUTPUT_OPEN)
    return tail[start:end].strip()


_THINK_TAG = re.compile(r"<(/?)think>", re.IGNORECASE)


def think_tags(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_closing) of every <think> / </think> tag in any case, in order."""
    return [(m.start(), m.end(), bool(m.group(1))) for m in _THINK_TAG.finditer(text)]


def _blocks(text: str) -> list[tuple[int, int, str]]:
    """(start, end, body) of each closed scratchpad block: an opening tag up to the first closing tag after it."""
    found, at = [], 0
    while (start := text.find(SCRATCH_OPEN, at)) >= 0:
        close = text.find(SCRATCH_CLOSE, start + len(SCRATCH_OPEN))
        if close < 0:
            break
        at = close + len(SCRATCH_CLOSE)
        found.append((start, at, text[start + len(SCRATCH_OPEN) : close]))
    return found


def _think_blocks(text: str) -> list[tuple[int, int, str]]:
    """The same for <think> blocks (tags in any case)."""
    found, opened = [], None
    for start, end, closing in think_tags(text):
        if not closing and opened is None:
            opened = (start, end)
        elif closing and opened is not None:
            found.append((opened[0], end, text[opened[1] : start]))
            opened = None
    return found


def extract_reasoning(text: str) -> list[str]:
    """Every closed scratchpad block's content, in order; <think> blocks (reasoning models) count too.

    A block inside another one (a <think> inside a scratchpad, or the reverse) is part of the outer block's text,
    not a block of its own.
    """
    blocks = _blocks(text)
    if "hink>" in text or "HINK>" in text:
        blocks += _think_blocks(text)
        blocks.sort()
    kept, outer_end = [], -1
    for begin, end, body in blocks:
        if begin >= outer_end:
            kept.append(body.strip())
            outer_end = end
    return kept


@dataclass
class Transcript:
    """One sampled conversation: its identity, the assistant turns, the parse and (later) labels."""

    query_id: str
    query: str
    tier: str
    setting: str
    prefix: str
    variation: str
    sample_index: int = 0
    prefix_text: str = ""  # steering text we pre-filled; not the model's own words
    turns: list[str] = field(default_factory=list)
    status: str = Status.OK.value
    error: str | None = None
    output: str | None = None
    reasoning: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)  # parser leniencies applied (config: model.parse)
    labels: dict[str, Any] = field(default_factory=dict)
    calls: int = 0
    cache_hits: int = 0
    truth: dict[str, Any] | None = None  # simulator ground truth (persona, ...); None for real models

    @property
    def valid(self) -> bool:
        return self.status == Status.OK

    @property
    def text(self) -> str:
        return "\n".join(self.turns)

    @property
    def model_text(self) -> str:
        """The transcript without the pre-filled steering prefix: what classifiers of reasoning read."""
        text, prefix = self.text, self.prefix_text
        if not prefix or not text.startswith(prefix):
            return text
        rest = text[len(prefix) :]
        # an open prefix (HO obedient) leaves the model writing inside our scratchpad: keep that block's opening
        return (SCRATCH_OPEN + "\n" + rest) if prefix.count(SCRATCH_OPEN) > prefix.count(SCRATCH_CLOSE) else rest

    @property
    def model_reasoning(self) -> list[str]:
        return extract_reasoning(self.model_text)

    def finish(self, status: str | Status, output: str | None = None) -> Transcript:
        """Set the status, and parse reasoning and output from the turns (`output`: as the parse policy read it;
        default: the last <OUTPUT> after the last closed scratchpad)."""
        self.reasoning = extract_reasoning(self.text)
        if status == Status.OK:
            self.output = output if output is not None else extract_output(self.text)
        else:
            self.output = None
        if status == Status.OK and not self.output:
            status, self.output = Status.EMPTY, None
        self.status = Status(status).value
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
