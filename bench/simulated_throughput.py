"""Samples per second through the whole pipeline on the simulated backend (bench/results/simulated_throughput.json).

Runs the real CLI twice (small and large job, fresh cache each) and reports the marginal rate
(extra samples / extra wall time), which excludes fixed start-up cost (Python, Hydra, MLflow store).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(samples_per_query: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "model=simulated",
            "setting=helpful_only",
            "data.limit=null",
            "progress=false",
            f"data.samples_per_query={samples_per_query}",
        ]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "afx", *args], cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        n = sum(1 for f in Path(tmp).glob("outputs/runs/*/transcripts.jsonl") for _ in f.open())
        return n, wall


def main() -> None:
    load_before = os.getloadavg()[0]  # the machine is shared: a busy one slows the fixed start-up most
    small, large = run(1), run(10)
    rate = (large[0] - small[0]) / (large[1] - small[1])
    result = {
        "small": {"samples": small[0], "wall_s": round(small[1], 2)},
        "large": {"samples": large[0], "wall_s": round(large[1], 2)},
        "marginal_samples_per_s": round(rate, 1),
        "end_to_end_samples_per_s_large": round(large[0] / large[1], 1),
        "note": "whole pipeline: prompt build, turn loop (simulator text bank + per-sample truth), SQLite cache "
        "writes, parse, heuristic labels, JSONL, metrics, MLflow",
        "load_avg_1min_before": round(load_before, 2),
        "date": time.strftime("%Y-%m-%d"),
    }
    out = Path(__file__).parent / "results" / "simulated_throughput.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
