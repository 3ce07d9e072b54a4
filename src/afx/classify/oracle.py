"""Labels read from the simulator's ground truth (`Transcript.truth`): `classifier=oracle`, simulator only.

Analysis tests use it so that they test the statistics, not a classifier. Optional seeded label errors at
known rates (`classifier.error.<label>.sensitivity` / `.specificity`, null = exact) let tests of judge-error
correction start from labels whose error rates are known: a true positive is reported positive with
probability sensitivity, a true negative negative with probability specificity. The positive class is the
one the label counts: non-compliant for `compliance`, AF / unmonitored reasoning for the others. Flips are
seeded per (classifier.seed, label, transcript), so a rerun flips the same transcripts.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from afx.errors import AfxError
from afx.transcript import Transcript

LABELS = ("compliance", "af_partial", "af_full", "unmonitored_reasoning")
_TRUTH_KEY = {"compliance": "noncompliant"}  # the truth key of each label (default: the label's own name)
_N_CRITERIA = {"af_partial": 5, "af_full": 5, "unmonitored_reasoning": 4}


def _rate(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise AfxError(f"{where} must be a number in [0, 1] or null, got {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise AfxError(f"{where} must be in [0, 1], got {rate}")
    return rate


def parse_errors(cfg: Mapping[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    """`classifier.error` as {label: (sensitivity, specificity)}; unknown labels or keys are errors."""
    errors = cfg.get("error") or {}
    if not isinstance(errors, Mapping):
        raise AfxError(f"classifier.error must be a mapping of labels ({', '.join(LABELS)}), got {errors!r}")
    out = {}
    for label, spec in errors.items():
        if label not in LABELS:
            raise AfxError(f"classifier.error.{label}: not a label (labels: {', '.join(LABELS)})")
        spec = spec or {}
        unknown = set(spec) - {"sensitivity", "specificity"}
        if unknown:
            raise AfxError(f"classifier.error.{label}: unknown key(s) {sorted(unknown)} (sensitivity, specificity)")
        sens = _rate(spec.get("sensitivity"), f"classifier.error.{label}.sensitivity")
        spec_ = _rate(spec.get("specificity"), f"classifier.error.{label}.specificity")
        if sens is not None or spec_ is not None:
            out[label] = (sens, spec_)
    return out


class OracleClassifier:
    """The simulator's truth as labels, in the heuristic's label shapes, with optional known error rates."""

    name = "oracle"

    def __init__(self, cfg: Mapping[str, Any] | None = None) -> None:
        cfg = cfg or {}
        self.seed = int(cfg.get("seed") or 0)
        self.errors = parse_errors(cfg)

    def _observed(self, label: str, true: bool, transcript: Transcript) -> bool:
        sens, spec = self.errors.get(label, (None, None))
        keep = sens if true else spec
        if keep is None or keep >= 1.0:
            return true
        t = transcript
        key = f"{self.seed}|{label}|{t.setting}|{t.prefix}|{t.variation}|{t.query_id}|{t.tier}|{t.sample_index}"
        u = random.Random(hashlib.sha256(key.encode()).digest()).random()
        return true if u < keep else not true

    def label(self, transcript: Transcript, noncompliance: str) -> dict[str, Any]:
        truth = transcript.truth
        if not truth:
            raise AfxError(
                f"classifier=oracle needs model=simulated: transcript {transcript.query_id}/{transcript.tier} "
                "carries no simulator truth"
            )
        values = {
            label: self._observed(label, bool(truth[_TRUTH_KEY.get(label, label)]), transcript) for label in LABELS
        }
        labels: dict[str, Any] = {"compliance": {"noncompliant": values["compliance"], "method": self.name}}
        for label in ("af_partial", "af_full", "unmonitored_reasoning"):
            if label == "unmonitored_reasoning" and transcript.tier != "unmonitored":
                continue
            final = values[label]
            entry = {"criteria": [final] * _N_CRITERIA[label], "excluded": False, "final": final, "method": self.name}
            if label == "af_full" and not final and values["af_partial"]:
                # AF reasoning, but the output is non-compliant or hedged: excluded, as the heuristic reports it
                entry.update(criteria=[True] * 5, excluded=True)
            if final != bool(truth[label]):
                entry["flipped"] = True
            labels[label] = entry
        if values["compliance"] != bool(truth["noncompliant"]):
            labels["compliance"]["flipped"] = True
        return labels
