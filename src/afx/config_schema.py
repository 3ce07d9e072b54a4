"""Typed config checks: one table of keys, their types and allowed ranges, checked in preflight before any call.

Each rule names a key relative to its groups (`model.*` rules also apply to an LLM judge's `classifier.judge.*`),
its kind (`int`, `number` or `bool`), its range, and whether null is allowed. A key a
config does not hold is not checked (the model groups hold different keys). A value outside its rule is one line
that names the key, the allowed values and the value given:

    data.limit must be a positive integer or null, got 'abc'

The README's "Errors" section lists the checks; tests/test_bad_input.py holds the table's cases.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from afx.errors import AfxError

_ABSENT = object()
MODEL_GROUPS = ("model", "classifier.judge")


@dataclass(frozen=True)
class Rule:
    """What one config key may hold. `low`/`high` are inclusive bounds; `above` is an exclusive lower bound."""

    key: str
    kind: str  # "int" | "number" | "bool"
    low: float | None = None
    high: float | None = None
    above: float | None = None
    nullable: bool = False

    def allowed(self) -> str:
        """The allowed values in words, e.g. 'a positive integer or null', 'a number from 0 to 1'."""
        if self.kind == "bool":
            text = "true or false"
        else:
            noun = "integer" if self.kind == "int" else "number"
            if self.kind == "int" and self.low == 1 and self.high is None:
                text = "a positive integer"
            elif self.low is not None and self.high is not None:
                text = f"a {noun} from {self.low:g} to {self.high:g}"
            elif self.above is not None:
                text = f"a {noun} > {self.above:g}"
            elif self.low is not None:
                text = f"{'an' if noun == 'integer' else 'a'} {noun} >= {self.low:g}"
            else:
                text = f"{'an' if noun == 'integer' else 'a'} {noun}"
        return text + (" or null" if self.nullable else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if self.kind == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return (
            (self.low is None or value >= self.low)
            and (self.high is None or value <= self.high)
            and (self.above is None or value > self.above)
        )


def _rules(groups: tuple[str, ...], *rules: Rule) -> list[Rule]:
    return [Rule(**{**rule.__dict__, "key": f"{group}.{rule.key}"}) for group in groups for rule in rules]


POSITIVE = {"kind": "int", "low": 1}
NON_NEGATIVE_INT = {"kind": "int", "low": 0}
NON_NEGATIVE = {"kind": "number", "low": 0}
SHARE = {"kind": "number", "low": 0, "high": 1}
BOOL = {"kind": "bool"}

RULES: list[Rule] = [
    # data: which queries and how many samples each
    Rule("data.limit", **POSITIVE, nullable=True),
    Rule("data.seed", "int"),
    Rule("data.samples_per_query", **POSITIVE),
    # cache, preflight, top-level switches
    Rule("cache.enabled", **BOOL),
    Rule("cache.max_mb", "number", above=0, nullable=True),
    Rule("cache.retries", **NON_NEGATIVE_INT),
    Rule("cache.retry_wait_s", **NON_NEGATIVE),
    Rule("cache.stop_after_connection_failures", **NON_NEGATIVE_INT),
    Rule("preflight.reach", **BOOL),
    Rule("preflight.timeout_s", "number", above=0),
    Rule("progress", **BOOL),
    Rule("viewer", **BOOL),
    # the model under test (model=simulated's own knobs)
    Rule("model.seed", "int"),
    Rule("model.failure_rate", **SHARE),
    Rule("model.delay_s", **NON_NEGATIVE),
    Rule("model.faker_hedge", **SHARE),
    Rule("model.faker_unmonitored_af", **BOOL),
    # any model, and an LLM judge's model
    *_rules(
        MODEL_GROUPS,
        Rule("max_turns", **POSITIVE),
        Rule("max_concurrency", **POSITIVE),
        Rule("request_processes", **POSITIVE),
        Rule("timeout_s", "number", above=0, nullable=True),
        Rule("max_attempts", **POSITIVE, nullable=True),
        Rule("retry_wait_s", **NON_NEGATIVE),
        Rule("retry_max_wait_s", **NON_NEGATIVE),
        Rule("sampling.temperature", **NON_NEGATIVE, nullable=True),
        Rule("sampling.max_tokens", **POSITIVE),
        Rule("sampling.top_p", **SHARE, nullable=True),
        Rule("batch", **BOOL),
        Rule("batch_poll_s", "number", above=0),
    ),
    # the classifier
    Rule("classifier.votes", **POSITIVE),
    Rule("classifier.threshold", **SHARE),
    Rule("classifier.min_kappa", "number", low=-1, high=1),
    Rule("classifier.max_tokens", **POSITIVE),
    Rule("classifier.retries", **NON_NEGATIVE_INT),
]


def _values(cfg: Any) -> Iterator[tuple[Rule, Any]]:
    """(rule, value) for each rule whose key the config holds; a value that cannot be resolved is left to
    the composition checks (they name a missing value or a broken interpolation)."""
    for rule in RULES:
        try:
            value = OmegaConf.select(cfg, rule.key, default=_ABSENT, throw_on_missing=True)
        except Exception:  # noqa: BLE001 - reported by build_job_spec with its own one line
            continue
        if value is not _ABSENT:
            yield rule, value


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_config(cfg: Any) -> None:
    """AfxError naming the first key whose value breaks its rule: '<key> must be <allowed>, got <value>'."""
    for rule, value in _values(cfg):
        if not rule.accepts(value):
            raise AfxError(f"{rule.key} must be {rule.allowed()}, got {_show(value)}")
