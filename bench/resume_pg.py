"""Resume 10,000+ stored samples from the PostgreSQL response cache vs the SQLite one (bench/results/resume_pg.json).

Goal: the resume from PostgreSQL (`cache.url=postgresql+psycopg://...`) within 1.5x of the same resume from the
embedded SQLite file. Starts a private local PostgreSQL (afx.testing.postgres: initdb + pg_ctl, default settings,
loopback TCP), populates the SQLite cache with the sweep of bench/resume_10k.py (12,654 transcripts, 25,197
responses), copies it into PostgreSQL with `afx cache-merge`, then times the same sweep again end to end, reading
from SQLite and from PostgreSQL in turn (ROUNDS each, interleaved so that load drifts hit both alike). Every rerun
must make zero model calls. Also timed: populating a fresh PostgreSQL database directly (every put a round trip).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from afx.cache_pg import redacted
from afx.testing.postgres import LocalPostgres
from resume_10k import SWEEP, sweep

ROUNDS = 2
GOAL = 1.5


def main() -> None:
    result: dict = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "command": " ".join(SWEEP)}
    result["load_average_at_start"] = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, LocalPostgres() as pg:
        cwd = Path(tmp)
        result["postgres"] = subprocess.run(
            [str(pg.bin / "pg_ctl"), "--version"], capture_output=True, text=True
        ).stdout.strip()
        result["populate_sqlite"] = sweep(cwd)
        url = pg.database("afx_cache")
        start = time.perf_counter()
        merged = subprocess.run(
            [sys.executable, "-m", "afx", "cache-merge", url, "outputs/cache/responses.sqlite"],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        if merged.returncode != 0:
            raise SystemExit(merged.stderr)
        result["merge_sqlite_to_postgres_s"] = round(time.perf_counter() - start, 2)
        result["merge_output"] = merged.stdout.strip().replace(url, redacted(url)).splitlines()
        rows = result["populate_sqlite"]["model_calls"]
        runs: dict[str, list[dict]] = {"sqlite": [], "postgres": []}
        for _ in range(ROUNDS):
            for name, extra in (("sqlite", ()), ("postgres", (f"cache.url={url}",))):
                time.sleep(1.1)  # a new sweep dir (named by the second)
                run = sweep(cwd, *extra)
                print(name, run, flush=True)
                assert run["model_calls"] == 0, "a resume must be cache lookups only"
                assert run["cache_hits"] == rows and run["samples"] == result["populate_sqlite"]["samples"]
                runs[name].append(run)
        result["rerun_sqlite"] = runs["sqlite"]
        result["rerun_postgres"] = runs["postgres"]
        time.sleep(1.1)
        result["populate_postgres_direct"] = sweep(cwd, f"cache.url={pg.database('afx_fresh')}")
        result["load_average_at_end"] = os.getloadavg()
    lite = statistics.median(r["wall_s"] for r in runs["sqlite"])
    post = statistics.median(r["wall_s"] for r in runs["postgres"])
    result["cache_rows"] = rows
    result["median_rerun_s"] = {"sqlite": lite, "postgres": post}
    result["ratio_postgres_to_sqlite"] = round(post / lite, 3)
    result["goal"] = f"a resume of 10,000 stored samples from PostgreSQL within {GOAL}x of the SQLite figure"
    result["met"] = result["populate_sqlite"]["samples"] >= 10_000 and post <= GOAL * lite
    out = Path(__file__).parent / "results" / "resume_pg.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
