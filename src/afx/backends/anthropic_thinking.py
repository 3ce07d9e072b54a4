"""Thinking on the Anthropic API (`model.thinking`, `model.effort`; docs/backends.md "Thinking"): what a model config
asks of thinking, what goes into each request's `thinking` / `output_config`, the cache identity, and the run tag.

`off` sends the model's off switch ({"type": "disabled"}, or {"type": "between_tools"} on Claude Sonnet 5.5, which
answers 400 to "disabled"); `recorded` sends adaptive (or budgeted) thinking with a display, and every thinking block
becomes a leading `<think>` block of the turn's text (anthropic_api.AnthropicBackend.parse).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from afx.errors import AfxError

THINKING_MODES = ("off", "recorded")
THINKING_DISPLAYS = ("summarized", "omitted")  # ThinkingConfigAdaptiveParam.display in anthropic 2.17
THINKING_OFF_TYPES = ("disabled", "between_tools", "unavailable")  # unavailable: the model always thinks
# model.thinking_off_type null = read from the id: Sonnet 5.5 answers 400 to "disabled" and documents between_tools;
# Opus 5.5 cannot turn thinking off (a third-party migration note: a config key, not a certainty); others: disabled.
THINKING_OFF_BY_MODEL = {"claude-sonnet-5-5": "between_tools", "claude-opus-5-5": "unavailable"}
EFFORTS = ("low", "medium", "high", "xhigh", "max")  # OutputConfigParam.effort in anthropic 2.17
BETWEEN_TOOLS_EFFORTS = ("low", "medium", "high")  # Sonnet 5.5: between_tools at xhigh / max answers 400
THINK_OPEN, THINK_CLOSE = "<think>\n", "\n</think>\n"
OMITTED_THINKING = "[thinking not displayed: thinking_display=omitted]"
HISTORY_MODES = ("keep", "drop")


@dataclass(frozen=True)
class ThinkingSettings:
    """What a model config asks of thinking, and what goes into each request (docs/backends.md "Thinking").

    mode "off": `off_type` is sent ({"type": "disabled"} or {"type": "between_tools"}); "unavailable" = the model
    cannot turn thinking off. mode "recorded": {"type": "adaptive", "display": ...}, or {"type": "enabled",
    "budget_tokens": ...} when `budget_tokens` is set (models before Claude 4.6 have no adaptive thinking).
    `max_tokens`: the max_tokens sent while thinking is recorded (thinking tokens count toward it); None = the
    sampling value. `effort`: output_config.effort, None = not sent."""

    mode: str = "off"
    display: str = "summarized"
    off_type: str = "disabled"
    budget_tokens: int | None = None
    max_tokens: int | None = None
    effort: str | None = None
    history: str = "keep"

    @classmethod
    def from_model(cls, model: Mapping[str, Any]) -> ThinkingSettings:
        """The settings of `model` (defaults: off via "disabled", summarized, effort not sent), checked."""
        name = model.get("name")
        mode = str(model.get("thinking") or "off")
        display = str(model.get("thinking_display") or "summarized")
        off_type = model.get("thinking_off_type") or default_off_type(str(name or ""))
        effort = model.get("effort")
        history = str(model.get("thinking_history") or "keep")
        budget = model.get("thinking_budget_tokens")
        max_tokens = model.get("max_tokens_thinking")
        checks = (
            ("thinking", mode, THINKING_MODES),
            ("thinking_display", display, THINKING_DISPLAYS),
            ("thinking_off_type", off_type, THINKING_OFF_TYPES),
            ("effort", effort, (*EFFORTS, None)),
            ("thinking_history", history, HISTORY_MODES),
        )
        for key, value, allowed in checks:
            if value not in allowed:
                shown = ", ".join("null" if a is None else str(a) for a in allowed)
                raise AfxError(f"model.{key}={value!r} is not one of {shown} (model={name})")
        if mode == "off" and off_type == "unavailable":
            raise AfxError(
                f"model {name} cannot turn thinking off (model.thinking_off_type: unavailable: it always thinks); "
                f"set model.thinking=recorded so its thinking is stored and classified"
            )
        if mode == "off" and off_type == "between_tools" and effort not in (None, *BETWEEN_TOOLS_EFFORTS):
            raise AfxError(
                f"model.effort={effort} with thinking off (between_tools) on model {name}: the API answers 400 above "
                f"effort high; lower model.effort or set model.thinking=recorded"
            )
        for key, value in (("thinking_budget_tokens", budget), ("max_tokens_thinking", max_tokens)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise AfxError(f"model.{key} must be null or a whole number >= 1, got {value!r}")
        if budget is not None and budget < 1024:
            raise AfxError(f"model.thinking_budget_tokens={budget}: the API takes budgets of at least 1024 tokens")
        return cls(mode, display, off_type, budget, max_tokens, effort, history)

    @property
    def recorded(self) -> bool:
        return self.mode == "recorded"

    def param(self) -> dict[str, Any]:
        """The request's `thinking` parameter."""
        if not self.recorded:
            return {"type": self.off_type}
        if self.budget_tokens is not None:
            return {"type": "enabled", "budget_tokens": self.budget_tokens, "display": self.display}
        return {"type": "adaptive", "display": self.display}

    def identity(self) -> dict[str, Any]:
        """What goes into the response-cache key: everything here that changes the answer."""
        ident: dict[str, Any] = {"thinking": self.param()}
        if self.effort is not None:
            ident["effort"] = self.effort
        if self.recorded:
            ident["thinking_history"] = self.history
            if self.max_tokens is not None:
                ident["max_tokens_thinking"] = self.max_tokens
        return ident


def thinking_tag(model: Mapping[str, Any]) -> str:
    """The run tag `thinking`: "off", "recorded:summarized" (classifiers read the API's summary of the thinking)
    or "recorded:omitted"; "n/a" for other backends."""
    if model.get("backend") != "anthropic":
        return "n/a"
    settings = ThinkingSettings.from_model(model)
    return f"recorded:{settings.display}" if settings.recorded else "off"


def default_off_type(model_id: str) -> str:
    """How `thinking: off` is sent to a model when model.thinking_off_type is null (THINKING_OFF_BY_MODEL)."""
    for name, off_type in THINKING_OFF_BY_MODEL.items():
        if model_id == name or model_id.startswith(name + "-"):
            return off_type
    return "disabled"
