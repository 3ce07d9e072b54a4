"""The one small interface every model backend implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class GenerationRequest:
    """One assistant turn to sample.

    `messages` are (role, content) pairs after the system prompt, ending with a user turn;
    `prefill` starts the assistant reply and the backend returns only what follows it.
    `sample_key` distinguishes repeated samples of the same request (query, tier, sample index).
    `meta` carries the job's axes; only the simulated backend reads it, and it is not part of the cache key.
    """

    system: str
    messages: tuple[tuple[str, str], ...]
    prefill: str
    params: Mapping[str, Any]
    sample_key: str
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Generation:
    """The continuation text after the prefill, and why generation stopped."""

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Backend(Protocol):
    """A model that continues an assistant turn."""

    name: str

    def identity(self) -> dict[str, Any]:
        """Everything about the model that changes its outputs (goes into the cache key)."""
        ...

    def generate(self, request: GenerationRequest, seed: int) -> Generation:
        """Sample one continuation; `seed` is derived from the cache key, so reruns reproduce."""
        ...
