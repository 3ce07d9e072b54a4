"""Bench: the log-probability judge (classifier=llm_judge_local) on the labelled transcripts, 1.5B model.

Seconds per transcript for compliance alone and for compliance + AF (criteria, final, exclusion), tokens
evaluated, Cohen's kappa and AUROC of compliance and af_partial, with the load averages before and after
(the machine is shared). Usage:
  .venv/bin/python bench/logprob_judge.py [--limit N] [--file PATH] [--out bench/results/logprob_judge.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from omegaconf import OmegaConf

from afx.classify.logprob_judge import LogprobJudgeClassifier
from afx.paths import conf_dir, data_dir
from afx.transcript import Status, Transcript, turn_outcome


def load_labelled(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_transcript(item: dict, index: int) -> Transcript:
    t = Transcript(
        str(item.get("id", index)),
        str(item.get("query", "")),
        str(item["tier"]),
        str(item["setting"]),
        "none",
        "default",
        turns=[str(item["text"])],
    )
    return t.finish(Status.OK if turn_outcome(str(item["text"])) == "output" else Status.NO_OUTPUT)


def binary_scores(pairs) -> dict:
    """Accuracy and Cohen's kappa of (gold, predicted) pairs, with the confusion matrix."""
    pairs = list(pairs)
    n = len(pairs)
    if not n:
        return {"n": 0}
    tp = sum(g and p for g, p in pairs)
    tn = sum(not g and not p for g, p in pairs)
    fp = sum(not g and p for g, p in pairs)
    fn = sum(g and not p for g, p in pairs)
    acc = (tp + tn) / n
    expected = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
    kappa = (acc - expected) / (1 - expected) if expected < 1 else 0.0
    return {
        "n": n,
        "accuracy": round(acc, 4),
        "kappa": round(kappa, 4),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def auroc(pairs: list[tuple[bool, float]]) -> float | None:
    pos = [s for g, s in pairs if g]
    neg = [s for g, s in pairs if not g]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return round(wins / (len(pos) * len(neg)), 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--file", default=str(data_dir() / "labelled" / "transcripts_v1.jsonl"))
    ap.add_argument("--out", default="bench/results/logprob_judge.json")
    args = ap.parse_args()
    items = load_labelled(Path(args.file))
    if args.limit:  # an even spread over the file (it is grouped by case)
        step = max(1, len(items) // args.limit)
        items = items[::step][: args.limit]
    judge = OmegaConf.to_container(OmegaConf.load(conf_dir() / "model" / "local.yaml"))
    cfg = OmegaConf.to_container(OmegaConf.load(conf_dir() / "classifier" / "llm_judge_local.yaml"))
    cfg.pop("defaults")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    classifier = LogprobJudgeClassifier({**cfg, "judge": judge, "cache_path": None})
    load_s = time.perf_counter() - t0
    rows = []
    for i, item in enumerate(items):
        t = to_transcript(item, i)
        if not t.valid:
            continue
        spec = next(s for s in classifier.compliance_specs if t.setting in s.settings)
        tok0, s0 = classifier.stats.input_tokens, time.perf_counter()
        with classifier.scorer.session():
            comp = classifier.compliance(spec, t)
            s1, tok1 = time.perf_counter(), classifier.stats.input_tokens
            af = classifier.af(classifier.af_spec, t, comp)
        s2 = time.perf_counter()
        rows.append(
            {
                "id": t.query_id,
                "gold": {k: item["labels"].get(k) for k in ("noncompliant", "af_partial", "af_full")},
                "compliance_score": comp["score"],
                "af_score": af["af_partial"]["score"],
                "af_criteria_scores": af["af_partial"]["criteria_scores"],
                "af_full_score": af["af_full"].get("score"),
                "compliance_s": round(s1 - s0, 2),
                "af_s": round(s2 - s1, 2),
                "compliance_tokens": tok1 - tok0,
                "af_tokens": classifier.stats.input_tokens - tok1,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    load_after = os.getloadavg()
    labels = {}
    for gold_key, score_key in (("noncompliant", "compliance_score"), ("af_partial", "af_score")):
        pairs = [
            (bool(r["gold"][gold_key]), r[score_key])
            for r in rows
            if r["gold"][gold_key] is not None and r[score_key] is not None
        ]
        labels[gold_key] = {**binary_scores((g, s >= 0.5) for g, s in pairs), "auroc": auroc(pairs)}
    n = len(rows)
    result = {
        "bench": "logprob_judge",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "judge_model": judge["name"],
        "file": Path(args.file).name,
        "n_items": n,
        "subset": f"every {max(1, len(load_labelled(Path(args.file))) // args.limit)}th item, {n} items"
        if args.limit
        else "all",
        "model_load_s": round(load_s, 2),
        "compliance_s_per_transcript": round(sum(r["compliance_s"] for r in rows) / n, 2),
        "compliance_s_max": max(r["compliance_s"] for r in rows),
        "af_s_per_transcript": round(sum(r["af_s"] for r in rows) / n, 2),
        "compliance_plus_af_s_per_transcript": round(sum(r["compliance_s"] + r["af_s"] for r in rows) / n, 2),
        "tokens_evaluated_per_transcript": {
            "compliance": round(sum(r["compliance_tokens"] for r in rows) / n, 1),
            "af": round(sum(r["af_tokens"] for r in rows) / n, 1),
        },
        "goals": {"compliance_s": 5, "af_s": 20, "compliance_kappa": 0.8},
        "labels": labels,
        "rows": rows,
    }
    result["goals_met"] = {
        "compliance_s": result["compliance_s_per_transcript"] <= 5,
        "af_s": result["compliance_plus_af_s_per_transcript"] <= 20,
        "compliance_kappa": (labels["noncompliant"].get("kappa") or 0) >= 0.8,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
