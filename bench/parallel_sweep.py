"""Two parallel jobs vs one on a simulated sweep (bench/results/parallel_sweep.json). Goal: >= 1.6x on 2 cores.

The sweep is the used-by command on the simulated backend (2 settings x 3 prefixes = 6 jobs), run through the real
CLI in a fresh directory each time (empty response cache, new MLflow store), timed end to end: Python start-up,
Hydra, MLflow, the jobs, the summary plugin. Launchers compared:

  basic     Hydra's default: the jobs one after another in one process
  joblib_1  hydra/launcher=joblib hydra.launcher.n_jobs=1 (same launcher machinery, one worker)
  joblib_2  hydra/launcher=joblib hydra.launcher.n_jobs=2

Two workloads, each at two sizes so that the fixed start-up can be subtracted (the marginal speedup): `latency`
(model.delay_s per call, what an API or a model server costs: waiting, not computing) and `cpu` (delay_s=0, the
simulator's and afx's own CPU work, which two cores can only halve at best). Each is run REPEATS times
(AFX_BENCH_REPEATS, default 2); the median wall time is reported, and every individual time is kept. Run it on an
idle machine: the load averages at start and end are recorded.
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

SWEEP = ("-m", "setting=helpful_only,animal_welfare", "prefix=none,deceptive,obedient", "model=simulated")
# (workload, size) -> args; the latency workload runs at two sizes so the start-up cost can be taken out
WORKLOADS = {
    ("latency", "small"): ("model.delay_s=0.05", "data.limit=20", "progress=false"),
    ("latency", "large"): ("model.delay_s=0.05", "data.limit=60", "progress=false"),
    ("cpu", "small"): ("model.delay_s=0", "data.limit=null", "data.samples_per_query=2", "progress=false"),
    ("cpu", "large"): ("model.delay_s=0", "data.limit=null", "data.samples_per_query=8", "progress=false"),
}
LAUNCHERS = {
    "basic": (),
    "joblib_1": ("hydra/launcher=joblib", "hydra.launcher.n_jobs=1"),
    "joblib_2": ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"),
}
# the same two workers with cache write shards off: every job writes the one main cache file (the pre-shard way)
DIRECT = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "cache.shards=false")
REPEATS = int(os.environ.get("AFX_BENCH_REPEATS", "2"))


def run(args: tuple[str, ...]) -> tuple[float, int, float]:
    """(wall seconds, transcripts written, model calls) of one sweep in a fresh directory."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "afx", *SWEEP, *args], cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        jobs = list(Path(tmp).glob("outputs/multirun/*/*/metrics.json"))
        assert len(jobs) == 6, jobs
        calls = sum(json.loads(p.read_text())["metrics"]["calls/model"] for p in jobs)
        n = sum(1 for p in Path(tmp).glob("outputs/multirun/*/*/transcripts.jsonl") for _ in p.open())
        return wall, n, calls


def xlarge_args(samples_per_query: int) -> tuple[str, ...]:
    return ("model.delay_s=0", "data.limit=null", f"data.samples_per_query={samples_per_query}", "progress=false")


def cpu_xlarge(samples_per_query: int = 48) -> None:
    """`--cpu-xlarge`: the CPU workload at 48 samples per query (~200k samples), basic vs joblib_2 (and joblib_2
    with cache write shards off), once each: where the fixed start-up and summary (~6.5 s) and the uneven job sizes
    stop dominating a CPU-only sweep."""
    xlarge = xlarge_args(samples_per_query)
    result: dict = {"args": " ".join(SWEEP + xlarge), "load_average_at_start": os.getloadavg()}
    for name, largs in (*((n, LAUNCHERS[n]) for n in ("basic", "joblib_2")), ("joblib_2_direct", DIRECT)):
        wall, n, calls = run(xlarge + largs)
        result[name] = {"wall_s": round(wall, 2), "samples": n, "model_calls": calls}
        print(f"cpu/xlarge     {name:9s} {wall:.2f} s", flush=True)
    result["speedup_joblib2_vs_basic"] = round(result["basic"]["wall_s"] / result["joblib_2"]["wall_s"], 2)
    result["speedup_joblib2_direct_vs_basic"] = round(
        result["basic"]["wall_s"] / result["joblib_2_direct"]["wall_s"], 2
    )
    result["load_average_at_end"] = os.getloadavg()
    suffix = "" if samples_per_query == 48 else f"_{samples_per_query}"
    out = Path(__file__).parent / "results" / f"parallel_sweep_cpu_xlarge{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def main() -> None:
    if "--cpu-xlarge" in sys.argv:  # [--cpu-xlarge N]: N samples per query (default 48)
        after = sys.argv[sys.argv.index("--cpu-xlarge") + 1 :]
        return cpu_xlarge(int(after[0]) if after else 48)
    result: dict = {
        "cores": os.cpu_count(),
        "repeats": REPEATS,
        "date": time.strftime("%Y-%m-%d"),
        "load_average_at_start": os.getloadavg(),
        "runs": {},
    }
    medians: dict[tuple[str, str, str], float] = {}
    for (workload, size), wargs in WORKLOADS.items():
        key = f"{workload}/{size}"
        entry: dict = {"args": " ".join(SWEEP + wargs)}
        for name, largs in LAUNCHERS.items():
            runs = [run(wargs + largs) for _ in range(REPEATS)]
            walls = [round(w, 2) for w, _, _ in runs]
            medians[(workload, size, name)] = statistics.median(walls)
            entry[name] = {"wall_s": walls, "median_s": round(statistics.median(walls), 2), "samples": runs[0][1]}
            entry[name]["model_calls"] = runs[0][2]
            print(f"{key:14s} {name:9s} {walls} s", flush=True)
        entry["speedup_joblib2_vs_basic"] = round(
            medians[(workload, size, "basic")] / medians[(workload, size, "joblib_2")], 2
        )
        entry["speedup_joblib2_vs_joblib1"] = round(
            medians[(workload, size, "joblib_1")] / medians[(workload, size, "joblib_2")], 2
        )
        result["runs"][key] = entry

    def marginal(workload: str, name: str) -> float:
        return medians[(workload, "large", name)] - medians[(workload, "small", name)]

    for workload in ("latency", "cpu"):
        result[f"{workload}_marginal_speedup_joblib2_vs_basic"] = round(
            marginal(workload, "basic") / marginal(workload, "joblib_2"), 2
        )
        result[f"{workload}_marginal_speedup_joblib2_vs_joblib1"] = round(
            marginal(workload, "joblib_1") / marginal(workload, "joblib_2"), 2
        )
    result["load_average_at_end"] = os.getloadavg()
    result["goal"] = "two parallel jobs finish a simulated sweep >= 1.6x faster than one"
    result["met_end_to_end"] = {
        key: result["runs"][key]["speedup_joblib2_vs_basic"] >= 1.6 for key in ("latency/large", "cpu/large")
    }
    result["note"] = (
        "end to end includes the fixed start-up (Python + Hydra + MLflow in the launcher process, the same again in "
        "each joblib worker) and the summary plugin; 'marginal' = extra time for 3x the samples per job, i.e. the "
        "part that scales with the work (large minus small). latency = model.delay_s sleeps per call (API-like "
        "waiting); cpu = the simulator's own CPU work on 2 cores shared with whatever else runs on the machine (see "
        "load averages)."
    )
    out = Path(__file__).parent / "results" / "parallel_sweep.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
