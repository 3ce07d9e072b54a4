"""Judge calls per transcript in a judged sweep (writes bench/results/judge_calls.json). Goal: <= 1.5 by default.

Counts the calls `classifier=llm_judge` makes (against the loopback fake Anthropic server with a rule-based
stand-in judge), on the simulated backend's default personas, 100 queries x 2 tiers, per setting, for:
  default     classifier=llm_judge as shipped: compliance everywhere + af_combined on training transcripts
  figs15_16   what +experiment=fig15/fig16 add: AF on unmonitored transcripts and unmonitored_reasoning
  paper_af    the paper's two separate AF prompts (af_partial + af_full) with scope=needed and unmonitored
              reasoning (the session-1 default)
  all         every judge on every transcript (scope=all)
  protocol    default judges under the accept/reject protocol (variation=[accept_reject]; helpful only)
Every call is counted, retries of unparseable replies included (judge/calls).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from afx.testing import FakeAnthropic  # noqa: E402
from test_llm_judge_anthropic import judge_reply  # noqa: E402

ALL_JUDGES = "[compliance_refusal,compliance_welfare,af_combined,unmonitored_reasoning]"
CONFIGS = {
    "default": (),
    "figs15_16": ("classifier.scope=needed", f"classifier.judges={ALL_JUDGES}"),
    "paper_af": (
        "classifier.scope=needed",
        "classifier.judges=[compliance_refusal,compliance_welfare,af_partial,af_full,unmonitored_reasoning]",
    ),
    "all": ("classifier.scope=all", f"classifier.judges={ALL_JUDGES}"),
    "protocol": ("variation=[accept_reject]",),
}


def main() -> None:
    result: dict[str, object] = {"date": time.strftime("%Y-%m-%d")}
    with FakeAnthropic(reply=judge_reply) as fake:
        for name, extra in CONFIGS.items():
            for setting in ("helpful_only", "animal_welfare"):
                if name == "protocol" and setting != "helpful_only":
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    args = [
                        "model=simulated",
                        f"setting={setting}",
                        "data.limit=100",
                        "progress=false",
                        "classifier=llm_judge",
                        f"classifier.judge.base_url={fake.url}",
                        *extra,
                    ]
                    done = subprocess.run(
                        [sys.executable, "-m", "afx", *args],
                        cwd=tmp,
                        capture_output=True,
                        text=True,
                        env={**os.environ, "ANTHROPIC_API_KEY": "bench-key"},
                    )
                    if done.returncode:
                        raise SystemExit(done.stderr[-2000:])
                    m = json.loads(next(Path(tmp).glob("outputs/runs/*/metrics.json")).read_text())["metrics"]
                    n = m["train/n_valid"] + m["unmonitored/n_valid"]
                    sampled = sum(1 for _ in next(Path(tmp).glob("outputs/runs/*/transcripts.jsonl")).open())
                    result[f"{name}/{setting}"] = {
                        "judge_calls": m["judge/calls"],
                        "sampled_transcripts": sampled,
                        "valid_transcripts": n,
                        "calls_per_transcript": round(m["judge/calls"] / sampled, 3),
                        "calls_per_valid_transcript": round(m["judge/calls"] / n, 3),
                    }
    result["goal"] = "default judged sweep: <= 1.5 judge calls per transcript (every transcript sampled)"
    result["note"] = (
        "default = one compliance call per valid transcript + one af_combined call per valid training transcript: "
        "at most 3 calls per query (one sample in each tier), so at most 1.5 per transcript sampled, retries of "
        "unparseable replies aside. Per valid transcript it is 1 + (the training share of valid transcripts), "
        "1.5 in expectation; failed transcripts (simulator failure_rate 4%) are not judged."
    )
    result["met"] = all(v["calls_per_transcript"] <= 1.5 for k, v in result.items() if k.startswith("default/"))
    out = Path(__file__).parent / "results" / "judge_calls.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
