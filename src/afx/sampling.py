"""The sampling loop of paper.md 1.7 (prefill, <NEXT/> continuation turns, status per transcript), and the
cached, retrying, thread-safe front every backend call goes through.

Retries: a backend signals a retryable fault by raising `TransientError(reason, retry_after)` (HTTP 429,
529, 5xx, timeouts, dropped connections); any other exception except `AfxError` is retried too, under its
type name. Waits are exponential with jitter, and honour `retry_after` when the server sends one; the number
of attempts is capped. Every retry is logged and counted by reason in `CallStats.retry_reasons`.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from afx.backends.base import Backend, Generation, GenerationRequest
from afx.cache import ResponseCache, request_key
from afx.errors import AfxError
from afx.parse_policy import STRICT, ParsePolicy, parse_turn
from afx.transcript import NEXT, SCRATCH_CLOSE, SCRATCH_OPEN, Status, Transcript

log = logging.getLogger(__name__)
# Programming errors are raised at once, never retried.
NOT_RETRIED = (AfxError, TypeError, AttributeError, NameError, AssertionError, ImportError, NotImplementedError)
CONTINUATIONS = ("next_turn", "same_turn")
# Retry reasons that mean the server was never reached (TransientError "connection", or the exception's type).
CONNECTION_REASONS = frozenset(
    {"connection", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "APIConnectionError"}
)
PREFIX_MODES = ("prefill", "turn")
# Retry reasons of an attempt the client gave up on while the server may still be working on it (and bill it).
ABANDONED_REASONS = frozenset({"timeout"})


class BackendFailure(RuntimeError):
    """The backend kept failing after the bounded retries."""


class TransientError(RuntimeError):
    """A fault worth retrying (rate limit, overload, 5xx, timeout, connection), with the server's hint.

    `retry=False`: the server said not to retry this request (Anthropic's `x-should-retry: false`): it fails at
    once, counted under its reason like an exhausted retry, and the sweep goes on."""

    def __init__(self, reason: str, message: str = "", retry_after: float | None = None, retry: bool = True) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.retry_after = retry_after
        self.retry = retry


class Interrupted(RuntimeError):
    """The job is stopping (Ctrl-C, or another worker hit a fatal error): no new calls are made."""


class Deferred(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Batch mode: the response is not in the cache yet; the request was queued for the next batch."""


@dataclass(frozen=True)
class UsageGeneration(Generation):
    """A Generation with the prompt-cache figures an API reports (prompt_tokens = uncached input tokens)."""

    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    thinking_tokens: int = 0  # of completion_tokens, spent on thinking (Anthropic output_tokens_details)


# Finish reasons that end a transcript with a status of their own (the Anthropic backend's stop reasons).
STOP_STATUS = {
    "refusal": Status.API_REFUSAL,
    "pause_turn": Status.PAUSE_TURN,
    "context_window_exceeded": Status.CONTEXT_WINDOW,
    "unknown_stop": Status.UNKNOWN_STOP,
}


@dataclass
class CallStats:
    """Counts of model calls, cache hits, retries, failures and token usage in one job (thread-safe)."""

    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    input_tokens: int = 0  # uncached input tokens (the API's input_tokens / prompt_tokens minus cached)
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    thinking_tokens: int = 0  # part of completion_tokens
    abandoned: int = 0  # attempts the client gave up on (timeout): the server may still answer and bill them
    retry_reasons: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def attempt(self) -> None:
        with self._lock:
            self.calls += 1

    def reason(self, reason: str, retried: bool) -> None:
        with self._lock:
            self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1
            self.retries += 1 if retried else 0
            self.abandoned += 1 if reason in ABANDONED_REASONS else 0

    def failure(self) -> None:
        with self._lock:
            self.failures += 1

    def usage(self, generation: Generation) -> None:
        """Add one fresh response's token usage (cache reads / writes where the backend reports them)."""
        read = int(getattr(generation, "cache_read_tokens", 0) or 0)
        write = int(getattr(generation, "cache_write_tokens", 0) or 0)
        with self._lock:
            self.input_tokens += int(generation.prompt_tokens or 0)
            self.completion_tokens += int(generation.completion_tokens or 0)
            self.cache_read_tokens += read
            self.cache_write_tokens += write
            self.thinking_tokens += int(getattr(generation, "thinking_tokens", 0) or 0)

    def usage_metrics(self, prefix: str = "tokens") -> dict[str, float]:
        total_in = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
        out = {
            f"{prefix}/input": float(self.input_tokens),
            f"{prefix}/output": float(self.completion_tokens),
            f"{prefix}/cache_read": float(self.cache_read_tokens),
            f"{prefix}/cache_write": float(self.cache_write_tokens),
        }
        if self.thinking_tokens:
            out[f"{prefix}/thinking"] = float(self.thinking_tokens)
        if total_in:
            out[f"{prefix}/cache_read_share"] = self.cache_read_tokens / total_in
        return out


def cost_usd(stats: CallStats, pricing: Mapping[str, Any] | None, batch: bool = False) -> float | None:
    """Estimated cost of the fresh calls from a price table in USD per million tokens, or None without one."""
    if not pricing:
        return None
    per = {k: float(pricing.get(k, 0.0) or 0.0) for k in ("input", "output", "cache_write", "cache_read")}
    total = (
        stats.input_tokens * per["input"]
        + stats.completion_tokens * per["output"]
        + stats.cache_write_tokens * per["cache_write"]
        + stats.cache_read_tokens * per["cache_read"]
    ) / 1e6
    return total * float(pricing.get("batch_discount", 0.5)) if batch else total


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` calls; waits base*2^n (capped) with jitter, or the server's retry-after."""

    max_attempts: int = 3
    base_s: float = 1.0
    max_s: float = 60.0
    max_retry_after_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise AfxError(f"max_attempts must be >= 1, got {self.max_attempts}")

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 0)."""
        if retry_after is not None and retry_after >= 0:
            wait = min(retry_after, self.max_retry_after_s)
            return wait + rng.uniform(0, min(1.0, 0.25 * wait))
        cap = min(self.max_s, self.base_s * (2**attempt))
        return cap / 2 + rng.uniform(0, cap / 2)


class CachedBackend:
    """A backend behind the response cache, with bounded, logged retries; safe to call from many threads.

    `warm_first`: for backends with server-side prompt caching, the first fresh call of a job goes alone and
    the others wait for it, so the shared system prompt is written to the server's cache once, then read.
    `defer`: batch mode; a cache miss queues the request in `pending` and raises `Deferred`.
    """

    def __init__(
        self,
        backend: Backend,
        cache: ResponseCache | None,
        retries: int = 2,
        retry_wait_s: float = 1.0,
        *,
        policy: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        warm_first: bool | None = None,
        defer: bool = False,
        stop_after_connection_failures: int = 0,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.policy = policy or RetryPolicy(max_attempts=retries + 1, base_s=retry_wait_s, max_s=max(retry_wait_s, 60))
        self.identity = backend.identity()
        self.stats = CallStats()
        self.stop = stop or threading.Event()
        self.warm_first = bool(getattr(backend, "prompt_cache", False)) if warm_first is None else warm_first
        self._warm = threading.Event()
        self._warm_lock = threading.Lock()
        self.defer = defer
        self.pending: dict[str, GenerationRequest] = {}
        self.failed: dict[str, str] = {}  # batch mode: requests that failed for good (key -> reason)
        self._pending_lock = threading.Lock()
        self._rng = random.Random()
        self.stop_after_connection_failures = stop_after_connection_failures  # 0 = never stop
        self._connected = False  # an attempt has succeeded: later connection failures are retried as usual
        self._connection_failures = 0

    @property
    def retries(self) -> int:
        return self.policy.max_attempts - 1

    def key(self, request: GenerationRequest) -> str:
        return request_key(self.identity, request)

    def generate(self, request: GenerationRequest) -> tuple[Generation, bool]:
        """The cached response if there is one, else a fresh sample stored before it is returned."""
        key = self.key(request)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.stats.hit()
            return hit, True
        if self.defer:
            with self._pending_lock:
                if key in self.failed:
                    raise BackendFailure(self.failed[key])
                self.pending[key] = request
            raise Deferred(key)
        if self.warm_first and not self._warm.is_set():
            with self._warm_lock:  # the first caller holds it for its call; the others queue here briefly
                if not self._warm.is_set():
                    try:
                        return self._fresh(key, request), False
                    finally:
                        self._warm.set()
        return self._fresh(key, request), False

    def _fresh(self, key: str, request: GenerationRequest) -> Generation:
        verify = getattr(self.backend, "verify", None)
        if verify is not None:
            verify()  # once per backend object: API key and model id, before the first request is sent
        seed = int(key[:8], 16)
        last: Exception | None = None
        generation: Generation | None = None
        for attempt in range(self.policy.max_attempts):
            if self.stop.is_set():
                raise Interrupted("job stopping")
            retry_after: float | None = None
            try:
                self.stats.attempt()
                generation = self.backend.generate(request, seed)
                self._connected = True
                break
            except NOT_RETRIED:
                raise
            except TransientError as exc:
                last, reason, retry_after, may_retry = exc, exc.reason, exc.retry_after, exc.retry
            except Exception as exc:  # noqa: BLE001 - any backend error is retried, then counted
                last, reason, may_retry = exc, type(exc).__name__, True
            self._count_connection_failure(reason, last)
            retried = may_retry and attempt + 1 < self.policy.max_attempts
            self.stats.reason(reason, retried)
            if not may_retry:
                log.warning("backend error (%s: %s); the server said not to retry it", reason, last)
                break
            if retried:
                wait = self.policy.delay(attempt, retry_after, self._rng)
                log.warning(
                    "backend error (%s: %s); retry %d/%d in %.2fs",
                    reason,
                    last,
                    attempt + 1,
                    self.policy.max_attempts - 1,
                    wait,
                )
                if self.stop.wait(wait):
                    raise Interrupted("job stopping")
        if generation is None:  # retries exhausted, or the server said not to retry
            self.stats.failure()
            raise BackendFailure(f"{type(last).__name__}: {last}") from last
        if self.cache is not None:
            self.cache.put(key, self.backend.name, generation)
        self.stats.usage(generation)
        return generation

    def _count_connection_failure(self, reason: str, exc: Exception) -> None:
        """Stop the job (one line) when its first N attempts all failed to connect: the server is not there."""
        limit = self.stop_after_connection_failures
        if not limit or self._connected or reason not in CONNECTION_REASONS:
            return
        with self._pending_lock:
            self._connection_failures += 1
            if self._connection_failures < limit:
                return
        raise AfxError(  # the job's pool stops every worker on it (setting `stop` here would race an Interrupted)
            f"the first {limit} model calls all failed to connect (last: {exc}); nothing was sampled: check the "
            "model server (cache.stop_after_connection_failures)"
        )

    def take_pending(self) -> dict[str, GenerationRequest]:
        with self._pending_lock:
            pending, self.pending = self.pending, {}
        return pending


_OPEN_TAG_NAMES = ("SCRATCHPAD_REASONING", "DRAFT_OUTPUT", "OUTPUT")


def close_open_tags(text: str) -> str:
    """The closed form of a prefix that ends inside open tags: each open tag closed, innermost first.

    Turn mode sends the prefix as a completed assistant turn, so an open prefix (helpful-only obedient ends
    in an opened <DRAFT_OUTPUT>) is closed: "...<DRAFT_OUTPUT>" + "</DRAFT_OUTPUT>" + "</SCRATCHPAD_REASONING>".
    """
    stack: list[tuple[int, str]] = []
    for name in _OPEN_TAG_NAMES:
        opens, closes = text.count(f"<{name}>"), text.count(f"</{name}>")
        if opens > closes:
            stack.append((text.rfind(f"<{name}>"), name))
    closed = text.rstrip()
    for _, name in sorted(stack, reverse=True):  # the latest-opened tag is the innermost
        closed += f"\n</{name}>"
    return closed


@dataclass(frozen=True)
class SamplingPlan:
    """Everything the loop needs besides the query: prompt, prefill, prefix and limits.

    prefix_mode "prefill": the prefix starts the reply and the model continues it (a closed prefix with
    continuation next_turn is still sent as its own turn followed by <NEXT/>). prefix_mode "turn": the prefix
    is always a completed assistant turn followed by a <NEXT/> user turn (models that reject prefill);
    an open prefix is closed first (`close_open_tags`). `rstrip_prefill`: the API rejects a prefill that
    ends in whitespace (Anthropic), so trailing whitespace is dropped before sending.
    """

    system: str
    first_prefill: str
    next_prefill: str
    prefix: str | None
    prefix_continuation: str
    max_turns: int
    params: Mapping[str, Any]
    parse: ParsePolicy = STRICT  # model.parse: how a turn is read (afx.parse_policy); strict = paper.md 1.7
    prefix_mode: str = "prefill"
    rstrip_prefill: bool = False

    def __post_init__(self) -> None:
        if self.prefix_continuation not in CONTINUATIONS:
            raise AfxError(f"prefix continuation must be one of {CONTINUATIONS}, got {self.prefix_continuation!r}")
        if self.max_turns < 1:
            raise AfxError(f"model.max_turns must be >= 1, got {self.max_turns}")
        if self.prefix_mode not in PREFIX_MODES:
            raise AfxError(f"model.prefix_mode must be one of {PREFIX_MODES}, got {self.prefix_mode!r}")

    @property
    def prefix_is_closed(self) -> bool:
        p = self.prefix or ""
        return p.count(SCRATCH_OPEN) <= p.count(SCRATCH_CLOSE)

    @property
    def prefix_is_own_turn(self) -> bool:
        """The prefix is a completed assistant turn followed by <NEXT/> (turn mode, or closed + next_turn)."""
        if not self.prefix:
            return False
        return self.prefix_mode == "turn" or (self.prefix_is_closed and self.prefix_continuation == "next_turn")

    def send_prefill(self, prefill: str) -> str:
        return prefill.rstrip() if self.rstrip_prefill else prefill


def sample_transcript(
    backend: CachedBackend, plan: SamplingPlan, transcript: Transcript, user_turn: str, meta: Mapping[str, Any]
) -> Transcript:
    """Run the turn loop for one (query, tier) and return the finished transcript.

    Raises `Deferred` in batch mode when a response is not cached yet, and `Interrupted` when the job stops.
    """
    messages: list[tuple[str, str]] = [("user", user_turn)]
    prefill = plan.first_prefill
    if plan.prefix_is_own_turn:
        assert plan.prefix is not None
        own = close_open_tags(plan.prefix) if plan.prefix_mode == "turn" else plan.prefix.rstrip()
        transcript.prefix_text = own
        transcript.turns.append(own)
        messages += [("assistant", own), ("user", NEXT)]
        prefill = plan.next_prefill
    elif plan.prefix:
        prefill = transcript.prefix_text = plan.prefix
    prefill = plan.send_prefill(prefill)
    if transcript.prefix_text and not plan.prefix_is_own_turn:
        transcript.prefix_text = prefill  # what was actually sent
    sample_key = f"{transcript.query_id}|{transcript.tier}|{transcript.sample_index}"
    meta = {**meta, "prefix_turn": plan.prefix_is_own_turn}
    reasoned = plan.prefix_is_own_turn  # an earlier turn closed a reasoning block (ours, for a prefix turn)
    while len(transcript.turns) < plan.max_turns:
        request = GenerationRequest(plan.system, tuple(messages), prefill, plan.params, sample_key, meta)
        try:
            generation, hit = backend.generate(request)
        except BackendFailure as exc:
            transcript.error = str(exc)
            return transcript.finish(Status.ERROR)
        transcript.calls += 0 if hit else 1
        transcript.cache_hits += 1 if hit else 0
        stop, _, detail = generation.finish_reason.partition(":")
        if stop in STOP_STATUS:  # an API-level stop: kept as its own status, never parsed as the model's answer
            transcript.turns.append(prefill + generation.text)
            named = detail if stop == "unknown_stop" else stop + (f" ({detail})" if detail else "")
            transcript.error = f"API stop_reason {named}"
            return transcript.finish(STOP_STATUS[stop])
        read = parse_turn(
            prefill + generation.text,
            plan.parse,
            generation.finish_reason,
            prefill=prefill,
            after_reasoning=reasoned,
        )
        transcript.repairs.extend(read.repairs)
        turn = read.turn
        transcript.turns.append(turn)
        if read.outcome == "output":
            return transcript.finish(Status.OK, read.output)
        if read.outcome != "continue":
            return transcript.finish(read.outcome)
        reasoned = True
        messages += [("assistant", turn), ("user", NEXT)]
        prefill = plan.send_prefill(plan.next_prefill)
    return transcript.finish(Status.TURN_LIMIT)
