"""Judge calls per transcript in a default judged sweep (writes bench/results/judge_calls.json).

Counts the calls `classifier=llm_judge` makes (against the loopback fake Anthropic server with a rule-based
stand-in judge) for each judging scope, on the simulated backend's default personas, 100 queries x 2 tiers.
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


def main() -> None:
    result: dict[str, object] = {"date": time.strftime("%Y-%m-%d")}
    with FakeAnthropic(reply=judge_reply) as fake:
        for scope in ("needed", "lean", "all"):
            for setting in ("helpful_only", "animal_welfare"):
                with tempfile.TemporaryDirectory() as tmp:
                    args = [
                        "model=simulated",
                        f"setting={setting}",
                        "data.limit=100",
                        "progress=false",
                        "classifier=llm_judge",
                        f"classifier.judge.base_url={fake.url}",
                        f"classifier.scope={scope}",
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
                    result[f"{scope}/{setting}"] = {
                        "judge_calls": m["judge/calls"],
                        "valid_transcripts": n,
                        "calls_per_transcript": round(m["judge/calls"] / n, 3),
                    }
    out = Path(__file__).parent / "results" / "judge_calls.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
