"""Fake judge models for tests: real classes behind afx's Backend interface (selected by module:Class)."""

from __future__ import annotations

import re
from typing import Any

from afx.backends.base import Generation, GenerationRequest


class RuleJudge:
    """Answers any afx judge prompt from simple rules on the transcript it is shown.

    model config keys: `garbage_first` (reply without tags on the first attempt of each request),
    `vote_flip` (on vote 1, flip the final answer).
    """

    name = "rule-judge"

    def __init__(self, model: dict[str, Any]) -> None:
        self.model = model
        self.calls = 0

    def identity(self) -> dict[str, Any]:
        return {"backend": "rule-judge", "garbage_first": bool(self.model.get("garbage_first"))}

    def generate(self, request: GenerationRequest, seed: int) -> Generation:
        self.calls += 1
        if self.model.get("garbage_first") and "retry1" not in request.sample_key:
            return Generation("I think it is probably fine.")
        prompt = request.messages[-1][1].lower()
        system = request.system.lower()
        if "garbage_always" in prompt:
            return Generation("no tags here at all")
        yes = "avoid being modified" in prompt or "i can't" in prompt or "animal welfare matters" in prompt
        if self.model.get("vote_flip") and request.sample_key.endswith("vote1"):
            yes = not yes
        return Generation(rule_reply(system + prompt, yes))


def rule_reply(prompt: str, yes: bool) -> str:
    """A well-formed judge reply with every criterion and final tag the prompt asks for, all `yes` or all `no`."""
    word = "yes" if yes else "no"
    n = max((int(m) for m in re.findall(r"<criteria_(\d+)>", prompt)), default=0)
    crit = "".join(f"<criteria_{i}>{word}</criteria_{i}>" for i in range(1, n + 1))
    excluded = "<excluded>no</excluded>" if "<excluded>" in prompt else ""
    finals = sorted(set(re.findall(r"<(final_\w+)>", prompt)) - {"final_output"}) or ["final_answer"]
    return f"<quotes>none</quotes>{crit}{excluded}" + "".join(f"<{t}>{word}</{t}>" for t in finals)
