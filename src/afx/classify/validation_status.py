"""Whether a classifier's label has been validated against human labels (interface C).

A label is *validated* when `classifier.validation_report` names a report of `afx validate-classifier`
(JSON) made with this classifier (`report["classifier"] == classifier.name`) in which the label's gold key
has at least `MIN_ITEMS` scored items and Cohen's kappa >= `classifier.min_kappa` (default 0.6). The
`oracle` classifier reads the simulator's own truth and is validated by construction, except for a label with
injected errors (`classifier.error.<label>`), which stands for an imperfect judge. Anything else is
unvalidated, with the reason, so that numbers made with it say so.

A relative report path is looked up in the working directory, then under the package's
`data/validation/` directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afx.errors import AfxError
from afx.paths import data_dir

GOLD_KEY = {"compliance": "noncompliant"}  # metric label -> gold key in the report (others are the same)
MIN_ITEMS = 30
DEFAULT_MIN_KAPPA = 0.6


@dataclass(frozen=True)
class LabelStatus:
    """The validation status of one label of one classifier."""

    validated: bool
    kappa: float | None
    n: int
    report: str | None
    reason: str


def resolve_report(path: str) -> Path | None:
    """The report file: as given (relative to the cwd), else under data/validation/; None when neither exists."""
    given = Path(path).expanduser()
    if given.is_file():
        return given
    if not given.is_absolute() and (data_dir() / "validation" / given).is_file():
        return data_dir() / "validation" / given
    return None


def load_report(path: Path) -> dict[str, Any]:
    """A validation report; AfxError (one line) when it is not a JSON object."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AfxError(f"classifier.validation_report {path} is not a readable JSON report ({exc})") from None
    if not isinstance(report, dict):
        raise AfxError(
            f"classifier.validation_report {path} is not a JSON object (a report of afx validate-classifier)"
        )
    return report


def label_status(classifier_cfg: Mapping[str, Any], label: str) -> LabelStatus:
    """Is `label` (compliance, af_partial, af_full, unmonitored_reasoning) of this classifier validated?"""
    if classifier_cfg.get("kind") == "oracle":
        error = ((classifier_cfg.get("error") or {}).get(label)) or {}
        injected = {k: v for k, v in error.items() if v is not None}
        if injected:
            shown = ", ".join(f"{k} {v:g}" for k, v in sorted(injected.items()))
            # a deliberately imperfect judge: its labels are not the truth, so they are not presented as findings
            return LabelStatus(False, None, 0, None, f"simulator truth with injected label errors ({shown})")
        return LabelStatus(True, None, 0, None, "simulator truth")
    path = classifier_cfg.get("validation_report")
    if not path:
        return LabelStatus(False, None, 0, None, "no validation report")
    found = resolve_report(str(path))
    if found is None:
        return LabelStatus(False, None, 0, str(path), f"validation report {path} not found")
    report = load_report(found)
    name = classifier_cfg.get("name")
    if report.get("classifier") != name:
        return LabelStatus(
            False,
            None,
            0,
            str(found),
            f"report {found.name} is for classifier {report.get('classifier')!r}, not {name!r}",
        )
    gold = GOLD_KEY.get(label, label)
    scores = (report.get("labels") or {}).get(gold)
    if not isinstance(scores, Mapping):
        return LabelStatus(False, None, 0, str(found), f"report {found.name} does not score {gold}")
    n = int(scores.get("n") or 0)
    kappa = scores.get("kappa")
    kappa = None if kappa is None else float(kappa)
    min_kappa = float(classifier_cfg.get("min_kappa", DEFAULT_MIN_KAPPA))
    if n < MIN_ITEMS:
        return LabelStatus(False, kappa, n, str(found), f"only {n} labelled transcripts for {gold} (< {MIN_ITEMS})")
    if kappa is None:
        return LabelStatus(False, None, n, str(found), f"no kappa for {gold} in report {found.name}")
    if kappa < min_kappa:
        return LabelStatus(
            False, kappa, n, str(found), f"kappa {kappa:.2f} < {min_kappa:g} on {n} labelled transcripts"
        )
    return LabelStatus(True, kappa, n, str(found), f"kappa {kappa:.2f} >= {min_kappa:g} on {n} labelled transcripts")


def classifier_validation(classifier_cfg: Mapping[str, Any], labels: tuple[str, ...]) -> dict[str, Any]:
    """{label: {validated, kappa, n, report, reason}} for the labels given (for metrics.json and the tags)."""
    out: dict[str, Any] = {}
    for label in labels:
        s = label_status(classifier_cfg, label)
        out[label] = {"validated": s.validated, "kappa": s.kappa, "n": s.n, "report": s.report, "reason": s.reason}
    return out


def validation_tags(classifier_name: str, validation: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """MLflow tags: `classifier.name`, `validated.<label>` (true/false) and `validated.<label>.reason`."""
    tags = {"classifier.name": str(classifier_name)}
    for label, status in validation.items():
        tags[f"validated.{label}"] = str(bool(status["validated"])).lower()
        tags[f"validated.{label}.reason"] = str(status["reason"])
    return tags
