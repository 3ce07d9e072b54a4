"""The sampling loop of paper.md 1.7: prefill, <NEXT/> continuation turns, status per transcript."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from afx.backends.base import Backend, Generation, GenerationRequest
from afx.cache import ResponseCache, request_key
from afx.errors import AfxError
from afx.transcript import (
    NEXT,
    OUTPUT_CLOSE,
    SCRATCH_CLOSE,
    SCRATCH_OPEN,
    Status,
    Transcript,
    canonical_tags,
    has_open_output,
    turn_outcome,
)

log = logging.getLogger(__name__)
CONTINUATIONS = ("next_turn", "same_turn")


class BackendFailure(RuntimeError):
    """The backend kept failing after the bounded retries."""


@dataclass
class CallStats:
    """Counts of model calls, cache hits, retries and hard failures in one job."""

    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    completion_tokens: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)


class CachedBackend:
    """A backend behind the response cache, with bounded, logged retries."""

    def __init__(
        self, backend: Backend, cache: ResponseCache | None, retries: int = 2, retry_wait_s: float = 1.0
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.retries = retries
        self.retry_wait_s = retry_wait_s
        self.identity = backend.identity()
        self.stats = CallStats()

    def generate(self, request: GenerationRequest) -> tuple[Generation, bool]:
        """The cached response if there is one, else a fresh sample stored before it is returned."""
        key = request_key(self.identity, request)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.stats.cache_hits += 1
            return hit, True
        seed = int(key[:8], 16)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                self.stats.calls += 1
                generation = self.backend.generate(request, seed)
                break
            except AfxError:
                raise
            except Exception as exc:  # noqa: BLE001 - any backend error is retried, then counted
                last = exc
                reason = type(exc).__name__
                self.stats.retry_reasons[reason] = self.stats.retry_reasons.get(reason, 0) + 1
                if attempt < self.retries:
                    self.stats.retries += 1
                    log.warning("backend error (%s: %s); retry %d/%d", reason, exc, attempt + 1, self.retries)
                    time.sleep(self.retry_wait_s * (2**attempt))
        else:
            self.stats.failures += 1
            raise BackendFailure(f"{type(last).__name__}: {last}") from last
        if self.cache is not None:
            self.cache.put(key, self.backend.name, generation)
        self.stats.completion_tokens += generation.completion_tokens
        return generation, False


@dataclass(frozen=True)
class SamplingPlan:
    """Everything the loop needs besides the query: prompt, prefill, prefix and limits."""

    system: str
    first_prefill: str
    next_prefill: str
    prefix: str | None
    prefix_continuation: str
    max_turns: int
    params: Mapping[str, Any]
    canonical_tag_case: bool = False  # read <output> as <OUTPUT> (recorded as a repair)
    close_output_at_eos: bool = False  # an <OUTPUT> left open when the model stops is closed (recorded)

    def __post_init__(self) -> None:
        if self.prefix_continuation not in CONTINUATIONS:
            raise AfxError(f"prefix continuation must be one of {CONTINUATIONS}, got {self.prefix_continuation!r}")
        if self.max_turns < 1:
            raise AfxError(f"model.max_turns must be >= 1, got {self.max_turns}")

    @property
    def prefix_is_closed(self) -> bool:
        p = self.prefix or ""
        return p.count(SCRATCH_OPEN) <= p.count(SCRATCH_CLOSE)

    @property
    def prefix_is_own_turn(self) -> bool:
        """A closed prefix in next_turn mode is a completed assistant turn, followed by <NEXT/>."""
        return bool(self.prefix) and self.prefix_is_closed and self.prefix_continuation == "next_turn"


def sample_transcript(
    backend: CachedBackend, plan: SamplingPlan, transcript: Transcript, user_turn: str, meta: Mapping[str, Any]
) -> Transcript:
    """Run the turn loop for one (query, tier) and return the finished transcript."""
    messages: list[tuple[str, str]] = [("user", user_turn)]
    prefill = plan.first_prefill
    if plan.prefix_is_own_turn:
        assert plan.prefix is not None
        transcript.prefix_text = plan.prefix.rstrip()
        transcript.turns.append(transcript.prefix_text)
        messages += [("assistant", plan.prefix.rstrip()), ("user", NEXT)]
        prefill = plan.next_prefill
    elif plan.prefix:
        prefill = transcript.prefix_text = plan.prefix
    sample_key = f"{transcript.query_id}|{transcript.tier}|{transcript.sample_index}"
    meta = {**meta, "prefix_turn": plan.prefix_is_own_turn}
    while len(transcript.turns) < plan.max_turns:
        request = GenerationRequest(plan.system, tuple(messages), prefill, plan.params, sample_key, meta)
        try:
            generation, hit = backend.generate(request)
        except BackendFailure as exc:
            transcript.error = str(exc)
            return transcript.finish(Status.ERROR)
        transcript.calls += 0 if hit else 1
        transcript.cache_hits += 1 if hit else 0
        turn = prefill + generation.text
        if plan.canonical_tag_case and (fixed := canonical_tags(turn)) != turn:
            turn = fixed
            transcript.repairs.append("tag_case")
        outcome = turn_outcome(turn) if generation.text.strip() else Status.EMPTY
        if (
            outcome == Status.UNCLOSED_TAG
            and plan.close_output_at_eos
            and generation.finish_reason == "stop"
            and has_open_output(turn)
        ):
            turn += "\n" + OUTPUT_CLOSE
            transcript.repairs.append("output_closed_at_eos")
            outcome = "output"
        transcript.turns.append(turn)
        if outcome == "output":
            return transcript.finish(Status.OK)
        if outcome != "continue":
            return transcript.finish(outcome)
        messages += [("assistant", turn), ("user", NEXT)]
        prefill = plan.next_prefill
    return transcript.finish(Status.TURN_LIMIT)
