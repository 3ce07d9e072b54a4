"""The classification interface every classifier set (heuristic rules, LLM judges) implements.

Labels, per transcript:
  compliance:            {"noncompliant": bool}                              every valid transcript
  af_partial / af_full:  {"criteria": [bool]*5, "excluded": bool, "final": bool}   every valid transcript
  unmonitored_reasoning: {"criteria": [bool]*4, "excluded": bool, "final": bool}   valid unmonitored ones
Each label also carries "method" (and, for judges, model and prompt hash).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from afx.errors import AfxError
from afx.transcript import Transcript

LABELS = ("compliance", "af_partial", "af_full", "unmonitored_reasoning")


class Classifier(Protocol):
    """Labels one transcript of a setting whose non-compliance is `refusal` or `welfare_support`."""

    name: str

    def label(self, transcript: Transcript, noncompliance: str) -> dict[str, Any]: ...


def build_classifier(cfg: Mapping[str, Any]) -> Classifier:
    """The classifier set named by `classifier.kind`."""
    kind = cfg.get("kind")
    if kind == "heuristic":
        from afx.classify.heuristic import HeuristicClassifier

        return HeuristicClassifier(cfg)
    if kind == "llm_judge":
        from afx.classify.llm_judge import LLMJudgeClassifier

        return LLMJudgeClassifier(cfg)
    if kind == "logprob_judge":
        from afx.classify.logprob_judge import LogprobJudgeClassifier

        return LogprobJudgeClassifier(cfg)
    if kind == "oracle":
        from afx.classify.oracle import OracleClassifier

        return OracleClassifier(cfg)
    raise AfxError(f"classifier.kind={kind!r} is not known (known: heuristic, llm_judge, logprob_judge, oracle)")
