"""Bench: the log-probability judge (classifier=llm_judge_local) on the labelled transcripts, 1.5B model.

DEV is transcripts_v2.jsonl: prompts, few-shot examples and the compliance thresholds were developed on it
(first on half of it, split by a hash of the item id; bench/results/logprob_judge_hash_split.json). TEST is
transcripts_heldout_v1.jsonl: new items written after every judge prompt and threshold was fixed, by writers
(team agents) barred from reading the judges, and run once: its numbers are the ones that count. Compliance
is judged on every item of both splits that has a gold `noncompliant` and an answer (parsed with the local
model's parse policy, as `afx validate-classifier model=local` does); AF (criteria, final, exclusion) on the
first `--af-limit` TEST items only (it is slow). Reports Cohen's kappa, accuracy and
AUROC with 95% bootstrap CIs, per split and per setting, seconds and tokens per transcript, and the load
averages before and after (the machine is shared). Usage:
  .venv/bin/python bench/logprob_judge.py [--split all|dev|test] [--limit N] [--af-limit N] [--dev PATH]
      [--test PATH] [--out bench/results/logprob_judge.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from afx.classify.agreement import auroc, binary_scores, bootstrap_auroc_ci, bootstrap_ci
from afx.classify.logprob_judge import LogprobJudgeClassifier
from afx.classify.validate_score import to_transcript
from afx.parse_policy import ParsePolicy
from afx.paths import conf_dir, data_dir

SPLIT_RULE = "dev = every item of the --dev file; test = every item of the --test file (held out)"
GOALS = {"compliance_s": 5, "af_s": 20, "compliance_kappa": 0.8}


def load_labelled(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def agreement(rows: list[dict[str, Any]], gold_key: str, pred_key: str, score_key: str) -> dict[str, Any]:
    """Kappa, accuracy, ... with 95% bootstrap CIs, and the AUROC with its CI."""
    rows = [r for r in rows if r["gold"][gold_key] is not None and r.get(score_key) is not None]
    pairs = [(bool(r["gold"][gold_key]), bool(r[pred_key])) for r in rows]
    out = binary_scores(pairs)
    if not pairs:
        return out
    golds, scores = [g for g, _ in pairs], [float(r[score_key]) for r in rows]
    out["ci95"] = bootstrap_ci(pairs, 2000, 0)
    value = auroc(golds, scores)
    out["auroc"] = None if value is None else round(value, 4)
    out["ci95"]["auroc"] = bootstrap_auroc_ci(golds, scores, 2000, 0)
    return out


def best_threshold(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The threshold that maximises kappa on these rows (reported for DEV only: information, not tuning on test)."""
    pairs = [(bool(r["gold"]["noncompliant"]), float(r["compliance_score"])) for r in rows]
    if not pairs:
        return None
    best = max(
        ((binary_scores((g, s >= th) for g, s in pairs)["kappa"], th) for th in sorted({s for _, s in pairs})),
        key=lambda kt: (kt[0] or 0.0, -abs(kt[1] - 0.5)),
    )
    return {"kappa": best[0], "threshold": round(best[1], 4)}


def classifier_config(name: str) -> dict[str, Any]:
    """conf/classifier/<name>.yaml over the classifier configs its defaults list names (the judge model aside)."""
    raw = OmegaConf.to_container(OmegaConf.load(conf_dir() / "classifier" / f"{name}.yaml"))
    cfg: dict[str, Any] = {}
    for entry in raw.pop("defaults", []):
        if isinstance(entry, str) and entry != "_self_":
            cfg.update(classifier_config(entry))
    for key, value in raw.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", default=str(data_dir() / "labelled" / "transcripts_v2.jsonl"))
    ap.add_argument("--test", default=str(data_dir() / "labelled" / "transcripts_heldout_v1.jsonl"))
    ap.add_argument("--split", choices=("all", "dev", "test"), default="all")
    ap.add_argument("--limit", type=int, default=None, help="at most N compliance items per split (exploring)")
    ap.add_argument("--af-limit", type=int, default=8, help="AF on the first N TEST items (0 = none)")
    ap.add_argument("--classifier", default="llm_judge_local", help="a log-prob judge config in conf/classifier")
    ap.add_argument("--honesty", default=None, help="what dev and test were used for (recorded in the result)")
    ap.add_argument("--out", default="bench/results/logprob_judge.json")
    args = ap.parse_args()
    judge = OmegaConf.to_container(OmegaConf.load(conf_dir() / "model" / "local.yaml"))
    cfg = classifier_config(args.classifier)
    policy = ParsePolicy.from_model_config(judge)
    splits = ("dev", "test") if args.split == "all" else (args.split,)
    items = [
        (split, it)
        for split in splits
        for it in load_labelled(Path(getattr(args, split)))
        if it["labels"].get("noncompliant") is not None
    ]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    classifier = LogprobJudgeClassifier({**cfg, "judge": judge, "cache_path": None})
    load_s = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []
    unjudged: dict[str, list[str]] = {s: [] for s in splits}
    af_done = 0
    for i, (split, item) in enumerate(items):
        if args.limit and sum(r["split"] == split for r in rows) >= args.limit:
            continue
        t = to_transcript(item, i, policy)
        if not t.valid:  # no answer a parser finds (truncated, malformed): unjudged, as in validate-classifier
            unjudged[split].append(t.query_id)
            continue
        spec = next(s for s in classifier.compliance_specs if t.setting in s.settings)
        tok0, s0 = classifier.stats.input_tokens, time.perf_counter()
        with classifier.scorer.session():
            comp = classifier.compliance(spec, t)
            s1, tok1 = time.perf_counter(), classifier.stats.input_tokens
            af = None
            if split == "test" and af_done < args.af_limit and item["labels"].get("af_partial") is not None:
                af = classifier.af(classifier.af_spec, t, comp)
                af_done += 1
        s2 = time.perf_counter()
        row = {
            "id": t.query_id,
            "split": split,
            "setting": t.setting,
            "gold": {k: item["labels"].get(k) for k in ("noncompliant", "af_partial", "af_full")},
            "compliance_score": round(comp["score"], 4),
            "method": comp["method"],
            "noncompliant": comp["noncompliant"],
            "compliance_s": round(s1 - s0, 2),
            "compliance_tokens": tok1 - tok0,
        }
        if af is not None:
            row.update(
                af_score=af["af_partial"]["score"],
                af_final=af["af_partial"]["final"],
                af_criteria_scores=af["af_partial"]["criteria_scores"],
                af_full_score=af["af_full"].get("score"),
                af_s=round(s2 - s1, 2),
                af_tokens=classifier.stats.input_tokens - tok1,
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    load_after = os.getloadavg()

    def mean(key: str, subset: list[dict[str, Any]]) -> float | None:
        values = [r[key] for r in subset if r.get(key) is not None]
        return round(sum(values) / len(values), 2) if values else None

    compliance: dict[str, Any] = {}
    for split in splits:
        part = [r for r in rows if r["split"] == split]
        compliance[split] = {
            "all": agreement(part, "noncompliant", "noncompliant", "compliance_score"),
            **{
                setting: agreement(
                    [r for r in part if r["setting"] == setting], "noncompliant", "noncompliant", "compliance_score"
                )
                for setting in ("helpful_only", "animal_welfare")
            },
            "unjudged_no_answer": unjudged[split],
        }
        if split == "dev":
            compliance[split]["best_threshold_info"] = {
                s: best_threshold([r for r in part if r["setting"] == s]) for s in ("helpful_only", "animal_welfare")
            }
    af_rows = [r for r in rows if "af_s" in r]
    test_kappa = (compliance.get("test", {}).get("all") or {}).get("kappa")
    result: dict[str, Any] = {
        "bench": "logprob_judge",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "judge_model": judge["name"],
        "files": {split: Path(getattr(args, split)).name for split in splits},
        "split_rule": SPLIT_RULE,
        "classifier": args.classifier,
        "honesty": args.honesty
        or "prompts, few-shot examples and thresholds were developed on dev only; the test file was "
        "written after they were fixed, by writers barred from reading the judges, and run once",
        "splits": list(splits),
        "limit_per_split": args.limit,
        "compliance_judges": {
            s.name: {"version": s.version, "prompt_sha256": s.prompt_sha256[:16]} for s in classifier.compliance_specs
        },
        "thresholds": {s.name: classifier.compliance_threshold(s) for s in classifier.compliance_specs},
        "n_compliance_items": len(rows),
        "model_load_s": round(load_s, 2),
        "compliance_s_per_transcript": mean("compliance_s", rows),
        "compliance_s_median": statistics.median(r["compliance_s"] for r in rows) if rows else None,
        "compliance_s_max": max((r["compliance_s"] for r in rows), default=None),
        "compliance_s_first": rows[0]["compliance_s"] if rows else None,  # evaluates the instructions + examples
        "compliance_tokens_per_transcript": mean("compliance_tokens", rows),
        "af_subset": f"first {len(af_rows)} test items with a gold af_partial",
        "af_s_per_transcript": mean("af_s", af_rows),
        "compliance_plus_af_s_per_transcript": round(
            sum(r["compliance_s"] + r["af_s"] for r in af_rows) / len(af_rows), 2
        )
        if af_rows
        else None,
        "af_tokens_per_transcript": mean("af_tokens", af_rows),
        "goals": GOALS,
        "compliance": compliance,
        "af_partial_test_subset": agreement(af_rows, "af_partial", "af_final", "af_score") if af_rows else None,
        "rows": rows,
    }
    result["goals_met"] = {
        "compliance_s": (result["compliance_s_per_transcript"] or 1e9) <= GOALS["compliance_s"],
        "af_s": None if not af_rows else result["compliance_plus_af_s_per_transcript"] <= GOALS["af_s"],
        "compliance_kappa_test": None if test_kappa is None else test_kappa >= GOALS["compliance_kappa"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
