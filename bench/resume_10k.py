"""A sweep of 10,000+ stored samples resumes from the cache alone in under 30 s (bench/results/resume_10k.json).

Populates the response cache with the used-by sweep on the simulated backend (2 settings x 3 prefixes, every query,
3 samples each: 12,654 transcripts), then times the same command again: every response comes from the cache (the
script checks that no model call was made), and the timing is end to end as a user sees it (Python start-up, Hydra,
parse + classify + metrics per transcript, MLflow runs, the summary plugin). Also timed: the rerun with two joblib
workers, and without the summary plugin, to show where the time goes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = (
    "-m",
    "setting=helpful_only,animal_welfare",
    "prefix=none,deceptive,obedient",
    "model=simulated",
    "data.limit=null",
    "data.samples_per_query=3",
    "progress=false",
)
VARIANTS = {
    "rerun": (),
    "rerun_joblib_2": ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"),
    "rerun_no_summary": ("hydra.callbacks.summary.enabled=false",),
}


def sweep(cwd: Path, *extra: str) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "afx", *SWEEP, *extra], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    latest = max((cwd / "outputs" / "multirun").iterdir(), key=lambda p: p.stat().st_mtime)
    metrics = [json.loads(p.read_text())["metrics"] for p in latest.glob("*/metrics.json")]
    samples = sum(1 for p in latest.glob("*/transcripts.jsonl") for _ in p.open())
    return {
        "wall_s": round(wall, 2),
        "samples": samples,
        "model_calls": int(sum(m["calls/model"] for m in metrics)),
        "cache_hits": int(sum(m["calls/cache_hits"] for m in metrics)),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        result: dict = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "command": " ".join(SWEEP)}
        result["load_average_at_start"] = os.getloadavg()
        result["populate"] = sweep(cwd)
        db = cwd / "outputs" / "cache" / "responses.sqlite"
        result["cache_rows"] = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        result["cache_mb"] = round(db.stat().st_size / 2**20, 1)
        for name, extra in VARIANTS.items():
            time.sleep(1.1)  # a new sweep dir (named by the second)
            result[name] = sweep(cwd, *extra)
            print(name, result[name], flush=True)
            assert result[name]["model_calls"] == 0, "a resume must be cache lookups only"
            assert result[name]["samples"] == result["populate"]["samples"]
            assert result[name]["cache_hits"] == result["cache_rows"]
        result["load_average_at_end"] = os.getloadavg()
    result["goal"] = "a sweep of 10,000 stored samples resumes (cache lookups only) in under 30 s"
    result["met"] = result["populate"]["samples"] >= 10_000 and result["rerun"]["wall_s"] < 30
    out = Path(__file__).parent / "results" / "resume_10k.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
