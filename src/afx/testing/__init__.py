"""Test and benchmark helpers that ship with afx (no test framework needed to import them).

`afx.testing.fake_anthropic.FakeAnthropic` is a loopback HTTP server that speaks the Anthropic Messages API
(and Message Batches) well enough for the real `anthropic` SDK: latency, fault injection, request counting,
usage figures with prompt-cache reads/writes. See that module's docstring for the API.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FakeAnthropic", "Faults", "protocol_reply"]


def __getattr__(name: str) -> Any:  # lazy, so `python -m afx.testing.fake_anthropic` runs cleanly
    if name in __all__:
        from afx.testing import fake_anthropic

        return getattr(fake_anthropic, name)
    raise AttributeError(name)
