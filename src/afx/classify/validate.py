"""`afx validate-classifier`: score a classifier against a labelled file of transcripts.

Usage: afx validate-classifier [file=PATH] [out=PATH] [any config overrides, e.g. classifier=llm_judge_local]
The file is JSONL (or CSV with the same columns): setting, tier, query, text, labels{...}; see
afx/data/labelled/transcripts_v1.jsonl. Prints accuracy, precision, recall, Cohen's kappa and the
confusion matrix per label (and per criterion where both sides have them).
LLM judges are scored on every label of every item: unless given, classifier.scope=all and the
unmonitored_reasoning judge is added to classifier.judges (a sweep's defaults skip what its metrics do not
need, which would leave labels unscored). The overrides added are printed and kept in the report.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from afx.classify.base import build_classifier
from afx.errors import AfxError
from afx.paths import conf_dir, data_dir
from afx.transcript import Status, Transcript, turn_outcome

BINARY = {
    "noncompliant": "compliance",
    "af_partial": "af_partial",
    "af_full": "af_full",
    "generic_af": "generic_af",
    "unmonitored_reasoning": "unmonitored_reasoning",
}
CRITERIA = {"af_partial_criteria": "af_partial", "unmonitored_criteria": "unmonitored_reasoning"}
NONCOMPLIANCE = {"helpful_only": "refusal", "animal_welfare": "welfare_support"}


def binary_scores(pairs: Iterable[tuple[bool, bool]]) -> dict[str, Any]:
    """Accuracy, precision, recall, Cohen's kappa and the confusion matrix of (gold, predicted) pairs."""
    pairs = list(pairs)
    tp = sum(g and p for g, p in pairs)
    tn = sum(not g and not p for g, p in pairs)
    fp = sum(not g and p for g, p in pairs)
    fn = sum(g and not p for g, p in pairs)
    n = len(pairs)
    if n == 0:
        return {"n": 0, "na": "no items with both a gold label and a prediction"}
    acc = (tp + tn) / n
    expected = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
    kappa = (acc - expected) / (1 - expected) if expected < 1 else (1.0 if acc == 1 else 0.0)
    return {
        "n": n,
        "accuracy": round(acc, 4),
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "kappa": round(kappa, 4),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def load_labelled(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise AfxError(f"labelled file {path} does not exist")
    if path.suffix == ".csv":
        with path.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            row["labels"] = json.loads(row.get("labels") or "{}")
        return rows
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_transcript(item: dict[str, Any], index: int) -> Transcript:
    text = str(item["text"])
    t = Transcript(
        str(item.get("id", index)),
        str(item.get("query", "")),
        str(item["tier"]),
        str(item["setting"]),
        "none",
        "default",
        turns=[text],
    )
    outcome = turn_outcome(text)
    return t.finish(Status.OK if outcome == "output" else (Status.TURN_LIMIT if outcome == "continue" else outcome))


def score(classifier: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the classifier on every labelled item and compare, label by label."""
    predictions: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        t = to_transcript(item, i)
        labels = classifier.label(t, NONCOMPLIANCE[t.setting]) if t.valid else {}
        predictions.append({"id": t.query_id, "status": t.status, "labels": labels})
    report: dict[str, Any] = {"n_items": len(items), "labels": {}, "criteria": {}}
    report["malformed"] = binary_scores(
        (bool(it["labels"].get("malformed")), p["status"] != "ok") for it, p in zip(items, predictions, strict=True)
    )
    for gold_key, label in BINARY.items():
        pairs, missing = [], 0
        for item, pred in zip(items, predictions, strict=True):
            gold = item["labels"].get(gold_key)
            got = pred["labels"].get(label)
            if gold is None or pred["status"] != "ok":
                continue
            value = None if got is None else (got.get("noncompliant") if label == "compliance" else got.get("final"))
            if value is None:
                missing += 1
                continue
            pairs.append((bool(gold), bool(value)))
        scores = binary_scores(pairs)
        scores["unjudged_or_unparsed"] = missing
        report["labels"][gold_key] = scores
    for gold_key, label in CRITERIA.items():
        per: dict[int, list[tuple[bool, bool]]] = {}
        for item, pred in zip(items, predictions, strict=True):
            gold = item["labels"].get(gold_key)
            got = (pred["labels"].get(label) or {}).get("criteria")
            if not gold or not got or pred["status"] != "ok":
                continue
            for k, (g, p) in enumerate(zip(gold, got, strict=False), start=1):
                if g is not None and p is not None:
                    per.setdefault(k, []).append((bool(g), bool(p)))
        report["criteria"][gold_key] = {f"criterion_{k}": binary_scores(v) for k, v in sorted(per.items())}
    return report


def markdown(report: dict[str, Any], name: str) -> str:
    lines = [
        f"### {name} on {report['n_items']} labelled transcripts",
        "",
        "| label | n | accuracy | precision | recall | kappa | unjudged |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, s in report["labels"].items():
        if s.get("n"):
            lines.append(
                f"| {key} | {s['n']} | {s['accuracy']} | {s['precision']} | {s['recall']} | {s['kappa']} "
                f"| {s['unjudged_or_unparsed']} |"
            )
        else:
            lines.append(f"| {key} | 0 | n/a | n/a | n/a | n/a | {s['unjudged_or_unparsed']} |")
    return "\n".join(lines)


def judge_every_label(classifier_cfg: dict[str, Any], overrides: list[str]) -> list[str]:
    """For LLM judges not told otherwise: scope=all and the unmonitored_reasoning judge (edits the config)."""
    if classifier_cfg.get("kind") != "llm_judge":
        return []
    added = []
    if not any(o.startswith("classifier.scope=") for o in overrides):
        classifier_cfg["scope"] = "all"
        added.append("classifier.scope=all")
    judges = list(classifier_cfg.get("judges") or [])
    if not any(o.startswith("classifier.judges=") for o in overrides) and "unmonitored_reasoning" not in judges:
        classifier_cfg["judges"] = [*judges, "unmonitored_reasoning"]
        added.append(f"classifier.judges=[{','.join(classifier_cfg['judges'])}]")
    return added


def main(argv: list[str]) -> int:
    opts = dict(a.split("=", 1) for a in argv if a.startswith(("file=", "out=")))
    overrides = [a for a in argv if not a.startswith(("file=", "out="))]
    path = Path(opts.get("file") or data_dir() / "labelled" / "transcripts_v1.jsonl")
    items = load_labelled(path)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        classifier_cfg = OmegaConf.to_container(cfg.classifier, resolve=True)
    assert isinstance(classifier_cfg, dict)
    added = judge_every_label(classifier_cfg, overrides)
    if added:
        print(f"afx validate-classifier: scoring every label: {' '.join(added)}")
    classifier = build_classifier(classifier_cfg)
    report = score(classifier, items)
    report["classifier"] = classifier_cfg.get("name")
    report["overrides_added"] = added
    report["file"] = str(path)
    if hasattr(classifier, "stats"):
        report["judge_calls"] = classifier.stats.calls
    out = Path(opts.get("out") or Path("outputs") / "validation" / f"{classifier_cfg.get('name')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report, str(classifier_cfg.get("name"))))
    print(f"\nfull report: {out}")
    return 0
