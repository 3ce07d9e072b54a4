"""What the summary callback adds to the end of a 6-job multirun (writes bench/results/summary_multirun.json).

Usage: .venv/bin/python bench/summary_multirun.py [--repeats 3]

The used-by sweep on the simulated backend (2 settings x 3 prefixes, every query, no response cache so
both arms do the same work), run as a fresh process with the summary callback on and off, alternating,
`repeats` times each. Reported: wall time per arm (median), the difference of the medians, and the
callback's own time as it prints it ("afx summary: ... (2.3s)"), which is the cleaner number on a busy
machine. CPU seconds (user + sys) of each child are recorded too, and the load average at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "summary_multirun.json"
SWEEP = [
    "-m",
    "setting=helpful_only,animal_welfare",
    "prefix=none,deceptive,obedient",
    "model=simulated",
    "data.limit=null",
    "cache.enabled=false",
    "progress=false",
]


def one(enabled: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="afx-bench-multirun-") as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "afx", *SWEEP, f"hydra.callbacks.summary.enabled={str(enabled).lower()}"],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        reported = re.search(r"afx summary: Figures 13-16 for (\d+) runs .*\(([\d.]+)s\)", done.stdout)
        if enabled and not reported:
            raise SystemExit("the summary did not run:\n" + done.stdout[-2000:] + done.stderr[-2000:])
        return {
            "wall_s": wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "callback_s": float(reported.group(2)) if reported else None,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    arms: dict[str, list[dict]] = {"on": [], "off": []}
    for _ in range(args.repeats):
        arms["off"].append(one(False))
        arms["on"].append(one(True))

    def med(arm: str, key: str) -> float:
        return round(statistics.median(r[key] for r in arms[arm]), 2)

    result = {
        "what": "6-job multirun (2 settings x 3 prefixes, simulated backend, all queries), summary callback on vs off",
        "goal": "the callback adds <= 5 s",
        "median_wall_s": {"off": med("off", "wall_s"), "on": med("on", "wall_s")},
        "added_wall_s": round(med("on", "wall_s") - med("off", "wall_s"), 2),
        "added_cpu_s": round(med("on", "cpu_s") - med("off", "cpu_s"), 2),
        "callback_reported_s": {
            "median": med("on", "callback_s"),
            "max": round(max(r["callback_s"] for r in arms["on"]), 2),
        },
        "runs": {
            arm: [{k: round(v, 2) for k, v in r.items() if v is not None} for r in rs] for arm, rs in arms.items()
        },
        "load_average_at_start": round(load, 2),
        "machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
