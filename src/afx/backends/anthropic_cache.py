"""Prompt caching as Anthropic bills it: the minimum cacheable prefix per model, the cache TTL, the 1-hour write price.

- `cache_min_tokens(model)`: `model.cache_min_tokens`, or the documented minimum of the model's family read from its
  id (`default_cache_min_tokens`; docs/backends.md "Prompt caching" cites the sources). A prefix up to a
  `cache_control` breakpoint that is shorter is neither written nor read, and the API says nothing: the request is
  billed at the full input price. Used by the fake server, by `afx plan`, and by the job's one warning.
- `cache_ttl(model)`: the TTL sent on `cache_control`: `model.cache_ttl` online (default 5m, the API default),
  `model.batch_cache_ttl` with `model.batch=true` (default 1h: a batch can take longer than 5 minutes, so the batch
  guide recommends the 1-hour cache).
- `effective_pricing(model)`: `model.pricing` with `cache_write` replaced by the 1-hour write price when the TTL in
  force is 1h (`pricing.cache_write_1h`; absent = 2 x `pricing.input`, Anthropic's multiplier).
- `prompt_cache_check(model, system_prompt)`: the run tag `prompt_cache` (ok / below_minimum / off / n/a) and one
  log warning when the cached prefix (the system prompt) is shorter than the minimum.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from afx.errors import AfxError

CHARS_PER_TOKEN = 4  # afx's token estimate (plan.py and the fake server use the same)
TTLS = ("5m", "1h")
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
WRITE_1H_FACTOR = 2.0  # 1-hour cache writes cost 2 x the base input price (5-minute writes: 1.25 x)
# Minimum cacheable prompt length in tokens, per family: (first version it applies to, tokens), in version order; a
# model takes the last row at or below its version. Sources (docs/backends.md "Prompt caching"): Anthropic's prompt
# caching page as quoted in anthropic-sdk-python issue 1194 (Opus 4.5 / 4.6 and Haiku 4.5: 4096; Sonnet 3.7-4.6,
# Opus 4 / 4.1: 1024; Haiku 3 / 3.5: 2048); Claude 3 Opus and 3.5 Sonnet: 1024; Opus 4.7: 2048, Opus 4.8 and
# Sonnet 5: 1024, Opus / Fable / Mythos 5: 512 (third-party copies of the 2026 table). Sonnet 5.5 is taken to be the
# Sonnet 5 family's 1024 (not listed in what could be checked: set model.cache_min_tokens if the docs say otherwise).
MIN_TOKENS: dict[str, tuple[tuple[tuple[int, int], int], ...]] = {
    "opus": (((3, 0), 1024), ((4, 5), 4096), ((4, 7), 2048), ((4, 8), 1024), ((5, 0), 512)),
    "sonnet": (((3, 0), 1024),),
    "haiku": (((3, 0), 2048), ((4, 5), 4096)),
    "fable": (((5, 0), 512),),
    "mythos": (((5, 0), 512),),
}
UNKNOWN_MIN_TOKENS = 4096  # an id whose family or version cannot be read: the largest minimum (warn, never flatter)
_NEW_ID = re.compile(r"claude-([a-z]+)-(\d{1,2})(?:-(\d{1,2}))?(?!\d)")  # claude-opus-4-5, claude-sonnet-5-5
_OLD_ID = re.compile(r"claude-(\d{1,2})(?:-(\d{1,2}))?-([a-z]+)")  # claude-3-5-sonnet-20240620, claude-3-opus-...


def family_version(model_id: str) -> tuple[str, tuple[int, int]] | None:
    """(family, (major, minor)) of a Claude model id, or None when the id does not say."""
    if match := _OLD_ID.search(model_id):
        return match.group(3), (int(match.group(1)), int(match.group(2) or 0))
    if match := _NEW_ID.search(model_id):
        return match.group(1), (int(match.group(2)), int(match.group(3) or 0))
    return None


def default_cache_min_tokens(model_id: str) -> int:
    """The documented minimum cacheable prefix of a model id's family (MIN_TOKENS), UNKNOWN_MIN_TOKENS if unknown."""
    found = family_version(model_id)
    rows = MIN_TOKENS.get(found[0]) if found else None
    if not found or not rows:
        return UNKNOWN_MIN_TOKENS
    applicable = [tokens for since, tokens in rows if since <= found[1]]
    return applicable[-1] if applicable else UNKNOWN_MIN_TOKENS


def cache_min_tokens(model: Mapping[str, Any]) -> int:
    """`model.cache_min_tokens` (a whole number >= 1), or the default from the model id when null / absent."""
    value = model.get("cache_min_tokens")
    if value is None:
        return default_cache_min_tokens(str(model.get("name") or ""))
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AfxError(f"model.cache_min_tokens must be null or a whole number >= 1, got {value!r}")
    return value


def cache_ttl(model: Mapping[str, Any]) -> str:
    """The cache TTL in force: `model.batch_cache_ttl` (default 1h) in batch mode, else `model.cache_ttl` (5m)."""
    key, default = ("batch_cache_ttl", "1h") if model.get("batch") else ("cache_ttl", "5m")
    ttl = str(model.get(key) or default)
    if ttl not in TTLS:
        raise AfxError(f"model.{key}={ttl!r} is not one of {', '.join(TTLS)} (the API's cache_control.ttl values)")
    return ttl


def cache_control(ttl: str) -> dict[str, str]:
    """The `cache_control` of the system prompt: 5m is the API default and is sent without a ttl."""
    return {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": ttl}


def effective_pricing(model: Mapping[str, Any]) -> dict[str, Any] | None:
    """`model.pricing` with `cache_write` at the price of the TTL in force (1h: `cache_write_1h`, or 2 x input)."""
    pricing = model.get("pricing")
    if not pricing:
        return None
    out = dict(pricing)
    if model.get("backend") == "anthropic" and cache_ttl(model) == "1h":
        write_1h = out.get("cache_write_1h")
        out["cache_write"] = float(write_1h) if write_1h is not None else WRITE_1H_FACTOR * float(out.get("input") or 0)
    return out


def estimate_tokens(text: str) -> int:
    """afx's estimate of a text's tokens (4 characters per token, rounded up, as the fake server counts)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def prompt_cache_check(model: Mapping[str, Any], system_prompt: str, log: logging.Logger | None = None) -> str:
    """The run tag `prompt_cache`: "n/a" (not Anthropic), "off" (model.cache_system_prompt=false), "ok", or
    "below_minimum" (the system prompt, the cached prefix, is shorter than the model's minimum: nothing is cached
    and every call pays the full input price), which is also logged as one warning on `log`."""
    if model.get("backend") != "anthropic":
        return "n/a"
    if not model.get("cache_system_prompt", True) or not system_prompt:
        return "off"
    need, have = cache_min_tokens(model), estimate_tokens(system_prompt)
    if have >= need:
        return "ok"
    if log is not None:
        log.warning(
            "prompt caching does nothing here: the system prompt (~%d tokens) is shorter than the %d-token minimum "
            "cacheable prefix of %s (model.cache_min_tokens), so the API neither writes nor reads it and every call "
            "pays the full input price",
            have,
            need,
            model.get("name"),
        )
    return "below_minimum"
