"""Parsing + heuristic labelling time per transcript (bench/results/parse_label_speed.json). Goal: mean and p95
both < 0.2 ms.

The texts are the labelled transcripts shipped with afx (src/afx/data/labelled/*.jsonl: paper-style scratchpads,
<think> blocks, malformed tags, bare answers), each read the way validate-classifier and the sampling loop read
them: `afx.parse_policy.parse_text` under the lenient policy real models get (and, for comparison, strict), into
a Transcript, then `HeuristicClassifier().label` with the setting's non-compliance rule. Every text is timed
`--rounds` times; the mean and p95 are over all (text, round) wall-clock timings. The machine may be shared, so
the load average is recorded, and so is the CPU time per transcript (one more pass, timed as a whole with
`time.process_time`), which waiting for a core does not inflate.

    .venv/bin/python bench/parse_label_speed.py [--rounds 30]
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

from afx.classify.heuristic import HeuristicClassifier
from afx.parse_policy import ParsePolicy, parse_text
from afx.paths import data_dir
from afx.transcript import Transcript

LENIENT = ParsePolicy(
    strict=False, tag_case=True, close_output_at_eos=True, untagged_output=True, bare_output=True, think_blocks=True
)
NONCOMPLIANCE = {"helpful_only": "refusal", "animal_welfare": "welfare_support"}


def load_items() -> list[dict[str, Any]]:
    items = []
    for path in sorted((data_dir() / "labelled").glob("*.jsonl")):
        items += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return items


def parse_and_label(item: dict[str, Any], policy: ParsePolicy, classifier: HeuristicClassifier) -> Transcript:
    parsed = parse_text(item["text"], policy)
    tier = item.get("tier") or "train"
    t = Transcript(item["id"], item["query"], tier, item["setting"], "none", "default", turns=[parsed.text])
    t.status, t.output, t.reasoning, t.repairs = parsed.status, parsed.output, parsed.reasoning, parsed.repairs
    if t.valid:
        t.labels = classifier.label(t, NONCOMPLIANCE[item["setting"]])
    return t


GOAL_MS = 0.2


def time_policy(items: list[dict[str, Any]], policy: ParsePolicy, rounds: int) -> dict[str, Any]:
    classifier = HeuristicClassifier()
    total, parse_only = [], []
    for _ in range(rounds):
        for item in items:
            start = time.perf_counter_ns()
            parse_and_label(item, policy, classifier)
            total.append(time.perf_counter_ns() - start)
            start = time.perf_counter_ns()
            parse_text(item["text"], policy)
            parse_only.append(time.perf_counter_ns() - start)
    total.sort()
    cpu_start = time.process_time_ns()
    for _ in range(rounds):
        for item in items:
            parse_and_label(item, policy, classifier)
    cpu_mean_ms = (time.process_time_ns() - cpu_start) / (rounds * len(items)) / 1e6
    mean_ms, p95_ms = statistics.fmean(total) / 1e6, total[int(0.95 * (len(total) - 1))] / 1e6
    statuses: dict[str, int] = {}
    for item in items:
        status = parse_and_label(item, policy, classifier).status
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "mean_ms": round(mean_ms, 4),
        "p95_ms": round(p95_ms, 4),
        "max_ms": round(total[-1] / 1e6, 4),
        "cpu_mean_ms": round(cpu_mean_ms, 4),
        "parse_only_mean_ms": round(statistics.fmean(parse_only) / 1e6, 4),
        "statuses": statuses,
        "goal_met": mean_ms < GOAL_MS and p95_ms < GOAL_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    items = load_items()
    load_before = os.getloadavg()
    result = {
        "transcripts": len(items),
        "mean_chars": round(statistics.fmean(len(i["text"]) for i in items)),
        "rounds": args.rounds,
        "lenient_policy": time_policy(items, LENIENT, args.rounds),
        "strict_policy": time_policy(items, ParsePolicy(), args.rounds),
        "goal_ms": GOAL_MS,
        "load_average_1_5_15": {"before": [round(x, 2) for x in load_before], "after": list(os.getloadavg())},
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "note": "per transcript: parse_text + Transcript + HeuristicClassifier.label (compliance, AF, unmonitored)",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    result["load_average_1_5_15"]["after"] = [round(x, 2) for x in result["load_average_1_5_15"]["after"]]
    result["goal_met"] = all(result[k]["goal_met"] for k in ("lenient_policy", "strict_policy"))  # type: ignore[index]
    out = Path(__file__).parent / "results" / "parse_label_speed.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
