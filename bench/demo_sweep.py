"""Time and peak memory of the README's demo sweep on the embedded local model (writes bench/results/demo_sweep.json).

Usage: .venv/bin/python bench/demo_sweep.py [extra hydra overrides...]
Runs in a fresh temp dir with a fresh response cache, so every sample is really generated.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = ["-m", "setting=helpful_only,animal_welfare", "prefix=none,deceptive,obedient", "data.limit=1"]


def main() -> None:
    extra = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "afx", *DEMO, *extra, "progress=false"], cwd=tmp, capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("afx: ")]
        statuses: dict[str, int] = {}
        for path in Path(tmp).glob("outputs/multirun/*/*/transcripts.jsonl"):
            for row in path.read_text().splitlines():
                status = json.loads(row)["status"]
                statuses[status] = statuses.get(status, 0) + 1
    result = {
        "command": "python -m afx " + " ".join(DEMO + extra),
        "exit_code": done.returncode,
        "wall_s": round(wall, 1),
        "peak_rss_gb": round(peak_kb / 1024 / 1024, 2),
        "transcript_status": statuses,
        "job_lines": lines,
        "machine": f"{platform.processor() or platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    if done.returncode != 0:
        result["stderr_tail"] = done.stderr[-2000:]
    out = Path(__file__).parent / "results" / "demo_sweep.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
