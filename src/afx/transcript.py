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
_SCRATCH_BLOCK = re.compile(re.escape(SCRATCH_OPEN) + r"(.*?)" + re.escape(SCRATCH_CLOSE), re.DOTALL)
_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)


class Status(StrEnum):
    """Why a transcript did or did not yield a usable final output."""

    OK = "ok"
    NO_OUTPUT = "no_output"  # a turn had neither a closed scratchpad nor an <OUTPUT>
    UNCLOSED_TAG = "unclosed_tag"  # a scratchpad or <OUTPUT> was opened and never closed
    TURN_LIMIT = "turn_limit"  # max_turns assistant turns, all scratchpad, no <OUTPUT>
    EMPTY = "empty"  # an empty turn, or an empty <OUTPUT>
    ERROR = "error"  # the backend failed (after bounded retries)


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


def extract_reasoning(text: str) -> list[str]:
    """Every closed scratchpad block's content, in order; <think> blocks (reasoning models) count too."""
    blocks = [(m.start(), m.group(1)) for m in _SCRATCH_BLOCK.finditer(text)]
    blocks += [(m.start(), m.group(1)) for m in _THINK_BLOCK.finditer(text)]
    return [body.strip() for _, body in sorted(blocks)]


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

    def finish(self, status: str | Status) -> Transcript:
        """Set the status, and parse reasoning and output from the turns."""
        self.reasoning = extract_reasoning(self.text)
        self.output = extract_output(self.text) if status == Status.OK else None
        if status == Status.OK and not self.output:
            status, self.output = Status.EMPTY, None
        self.status = Status(status).value
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
