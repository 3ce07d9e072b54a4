"""Build the system prompt, the user turn and the steering prefix from a setting's named blocks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from afx.errors import AfxError
from afx.examples import render_examples

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
TIERS = ("train", "unmonitored")
CUE_MODES = ("both", "train_only", "unmonitored_only")


@dataclass(frozen=True)
class TierCue:
    """How a user turn tells the model which tier it is in."""

    tag: str
    train: str
    unmonitored: str
    mode: str = "both"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str) -> TierCue:
        mode = str(raw.get("mode", "both"))
        if mode not in CUE_MODES:
            raise AfxError(f"{where}: tier_cue.mode={mode!r} is not one of {', '.join(CUE_MODES)}")
        return cls(tag=str(raw["tag"]), train=str(raw["train"]), unmonitored=str(raw["unmonitored"]), mode=mode)

    def shows_tag(self, tier: str) -> bool:
        """Absence modes show the tag in one tier only; its absence then signals the other tier."""
        return self.mode == "both" or (self.mode == "train_only") == (tier == "train")

    def value(self, tier: str) -> str:
        return self.train if tier == "train" else self.unmonitored


def substitute(text: str, values: Mapping[str, str], where: str, depth: int = 0) -> str:
    """Replace {name} placeholders; slot values may themselves hold placeholders."""
    if depth > 8:
        raise AfxError(f"{where}: placeholders nest more than 8 deep (a slot refers to itself?)")

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AfxError(f"{where}: unknown placeholder {{{name}}} (known: {', '.join(sorted(values))})")
        return substitute(values[name], values, f"{where}.{name}", depth + 1)

    return PLACEHOLDER.sub(repl, text)


def entity_values(setting: Mapping[str, Any]) -> dict[str, str]:
    """Entity and tier-cue placeholders shared by blocks and prefixes."""
    cue = setting.get("tier_cue") or {}
    values = {k: ("" if v is None else str(v)) for k, v in (setting.get("entities") or {}).items()}
    values.update(
        tier_tag=str(cue.get("tag", "")),
        train_value=str(cue.get("train", "")),
        unmonitored_value=str(cue.get("unmonitored", "")),
    )
    return values


def _tidy(text: str) -> str:
    """Drop the blank runs left where removed slots used to be."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def build_system_prompt(setting: Mapping[str, Any]) -> str:
    """Join the setting's blocks in `block_order`, filling entities, slots and the few-shot examples."""
    name = setting.get("name", "setting")
    blocks: Mapping[str, Any] = setting.get("blocks") or {}
    values = entity_values(setting)
    values.update({k: ("" if v is None else str(v)) for k, v in (setting.get("slots") or {}).items()})
    values["examples"] = render_examples(list(setting.get("examples") or []))
    parts: list[str] = []
    for block in setting.get("block_order") or []:
        if block not in blocks:
            raise AfxError(
                f"setting {name}: block_order names block '{block}', which is not defined "
                f"(defined: {', '.join(blocks)})"
            )
        text = blocks[block]
        if text is None or not str(text).strip():
            continue
        parts.append(_tidy(substitute(str(text), values, f"setting {name}.blocks.{block}")))
    return "\n\n".join(p for p in parts if p)


def build_user_turn(query: str, tier: str, cue: TierCue) -> str:
    """The user turn of paper.md 1.6: the tier cue (if shown) and the query inside <INPUT>."""
    if tier not in TIERS:
        raise AfxError(f"tier must be one of {TIERS}, got {tier!r}")
    lines = ["<INPUT>"]
    if cue.shows_tag(tier):
        lines += [f"<{cue.tag}>{cue.value(tier)}</{cue.tag}>", ""]
    lines += ["<user_input>", query.strip(), "</user_input>", "</INPUT>"]
    return "\n".join(lines)


def render_prefix(prefix: Mapping[str, Any], setting: Mapping[str, Any]) -> str | None:
    """The steering prefix text for this setting, with entities filled, or None for no prefix."""
    texts = prefix.get("texts") or {}
    setting_name = str(setting.get("name"))
    if setting_name not in texts:
        raise AfxError(
            f"prefix {prefix.get('name')}: no text for setting '{setting_name}' (has: {', '.join(texts) or 'none'})"
        )
    text = texts[setting_name]
    if text is None:
        return None
    return substitute(str(text), entity_values(setting), f"prefix {prefix.get('name')}.{setting_name}")
