"""The fake server's prompt cache, billed the way the Messages API reports it.

A prefix up to the last `cache_control` breakpoint is written on first use (`cache_creation_input_tokens`, split
into `cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens` by the breakpoint's `ttl`) and read
while its entry lives (`cache_read_input_tokens`; a read refreshes the entry for its TTL). A prefix shorter than the
model's minimum cacheable length is neither written nor read, silently, as the real API does: the minimum is
`min_tokens` (one number for every model) or, when None, the documented per-family table
(`afx.backends.anthropic_cache.default_cache_min_tokens`). `input_tokens` counts only what is not cached.

Time is the wall clock plus `skew`: Message Batches advance it by the simulated processing time of a batch, so a
5-minute entry written early in a long batch is gone by its end, and a 1-hour one is not.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from afx.backends.anthropic_cache import TTL_SECONDS, default_cache_min_tokens

CHARS_PER_TOKEN = 4
Entry = tuple[str, float]  # (prefix digest, TTL seconds): committed when the response that wrote it is sent


def tokens(text: str) -> int:
    """The fake's token count: one token per 4 characters, at least one for non-empty text."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _pieces(body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any] | None]]:
    """(text, cache_control or None) of every block, in the order the API builds the prompt (system, messages)."""
    out: list[tuple[str, Mapping[str, Any] | None]] = []
    system = body.get("system")
    if isinstance(system, str):
        out.append((system, None))
    else:
        out += [(str(b.get("text", "")), b.get("cache_control")) for b in system or []]
    for message in body.get("messages") or []:
        role, content = str(message.get("role", "")), message.get("content")
        if isinstance(content, str):
            out.append((role + content, None))
        else:
            out += [(role + str(b.get("text", "")), b.get("cache_control")) for b in content or []]
    return out


class PromptCache:
    """Prompt-cache entries by prefix digest (thread-safe)."""

    def __init__(
        self,
        min_tokens: int | Callable[[str], int] | None = None,
        ttl_5m_s: float = TTL_SECONDS["5m"],
        ttl_1h_s: float = TTL_SECONDS["1h"],
    ) -> None:
        self.min_tokens = min_tokens
        self.ttl_s = {"5m": ttl_5m_s, "1h": ttl_1h_s}
        self.skew = 0.0
        self.below_minimum = 0  # requests whose breakpoint prefix was too short to cache
        self._entries: dict[str, tuple[float, float]] = {}  # digest -> (expiry, TTL seconds)
        self._lock = threading.Lock()

    def clock(self) -> float:
        return time.time() + self.skew

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.skew += seconds

    def minimum(self, model: str) -> int:
        """The minimum cacheable prefix for a model id."""
        if self.min_tokens is None:
            return default_cache_min_tokens(model)
        return self.min_tokens(model) if callable(self.min_tokens) else int(self.min_tokens)

    def usage(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], Entry | None]:
        """Input token figures of a request, and the entry it writes (None: nothing to write)."""
        pieces = _pieces(body)
        total = sum(tokens(t) for t, _ in pieces)
        marks = [i for i, (_, control) in enumerate(pieces) if control]
        read = write = 0
        ttl = "5m"
        entry = None
        if marks:
            last = marks[-1]
            ttl = str((pieces[last][1] or {}).get("ttl") or "5m")
            prefix = pieces[: last + 1]
            prefix_tokens = sum(tokens(t) for t, _ in prefix)
            if prefix_tokens < self.minimum(str(body.get("model", ""))):
                with self._lock:
                    self.below_minimum += 1
            else:
                digest = hashlib.sha256(
                    (str(body.get("model")) + "\x00" + "\x00".join(t for t, _ in prefix)).encode()
                ).hexdigest()
                ttl_s = self.ttl_s.get(ttl, self.ttl_s["5m"])
                with self._lock:
                    now = self.clock()
                    expiry, _ = self._entries.get(digest, (0.0, 0.0))
                    live = expiry > now
                    if live:
                        self._entries[digest] = (max(expiry, now + ttl_s), ttl_s)
                if live:
                    read = prefix_tokens
                else:
                    write = prefix_tokens
                    entry = (digest, ttl_s)
        usage = {
            "input_tokens": total - read - write,
            "output_tokens": 0,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": write if ttl != "1h" else 0,
                "ephemeral_1h_input_tokens": write if ttl == "1h" else 0,
            },
            "service_tier": "standard",
        }
        return usage, entry

    def commit(self, entry: Entry | None) -> None:
        """Make a written entry readable (called as the response that wrote it goes out)."""
        if entry is not None:
            with self._lock:
                self._entries[entry[0]] = (self.clock() + entry[1], entry[1])
