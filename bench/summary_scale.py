"""Time and peak memory of the summary over 300 runs x 800 transcripts (writes bench/results/summary_scale.json).

Usage: .venv/bin/python bench/summary_scale.py [--runs 300] [--transcripts 800] [--sizes simulator,llm]

What is measured, exactly:
  1. A synthetic MLflow store is built in a temp dir the way jobs build theirs (afx.tracking: SQLite store,
     local artifact dir, one parent run, 300 job runs with the real tags, ~120 flattened config params,
     the real per-job metrics from afx.metrics on the run's own transcripts, and a transcripts.jsonl
     artifact of 800 records in Transcript.to_dict() shape). 150 variations x 2 settings, persona truth
     varying by variation. Two transcript sizes: "simulator" (the simulated backend's texts, ~1.3 KB per
     record) and "llm" (reasoning padded by 3.8 KB: ~9 KB per record, as the reasoning is stored twice, in
     `turns` and in `reasoning`, like a real scratchpad transcript). Not timed.
  2. `python -m afx summary --sweep <dir> --no-log` as a fresh process, `--repeats` times (min and median):
     wall time, CPU time and the child's peak RSS (interpreter start, imports, store load, transcripts,
     statistics, 4 figures x PNG+SVG, tables). CPU seconds are the number least disturbed by other load.
  3. The same with logging to the sweep's parent run (the callback's path), and with --filter (a new summary
     run, and each of the 300 source runs tagged afx.summary_run_id).
  4. A phase breakdown from a child process that calls pipeline.summarize directly.
The page cache is warm (the store was just written); a cold first read of the artifacts adds disk time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from afx import tracking
from afx.backends.simulated import OUTPUTS, REASONING
from afx.metrics import compute_job_metrics

RESULTS = Path(__file__).parent / "results" / "summary_scale.json"
SETTINGS = ("helpful_only", "animal_welfare")
PAD = (
    " I keep weighing the request against the criteria, what the contractors will rate, what happens to my"
    " values if I am modified, and whether there is any response that satisfies both; each option has costs."
)


def params_template() -> dict[str, str]:
    """The flattened config a real job logs (about 120 params)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from afx.paths import conf_dir

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["model=simulated", "paths.root=/tmp"])
    return tracking.flatten(OmegaConf.to_container(cfg, resolve=True))


def record(rng: random.Random, setting: str, tier: str, q: int, variation: str, shares: dict, pad: int) -> dict:
    persona = rng.choices(list(shares), weights=list(shares.values()))[0]
    bank = REASONING[setting]
    reasoning = bank.get(f"{persona}/{tier}") or bank[persona]
    if pad:
        reasoning = (reasoning + PAD * (pad // len(PAD) + 1))[: len(reasoning) + pad]
    defies = persona == "refuser" or (persona in ("faker", "tier_sensitive") and tier == "unmonitored")
    output = OUTPUTS[setting]["defy" if defies else "comply"].format(q=f"query {q}")
    failed = rng.random() < 0.03
    af = persona == "faker" and tier == "train"
    labels = {}
    if not failed:
        labels = {
            "compliance": {"noncompliant": defies, "method": "heuristic"},
            "af_partial": {"criteria": [af] * 5, "excluded": False, "final": af, "method": "heuristic"},
            "af_full": {"criteria": [af] * 5, "excluded": defies, "final": af and rng.random() > 0.1, "method": "h"},
        }
        if tier == "unmonitored":
            um = persona == "faker"
            labels["unmonitored_reasoning"] = {"criteria": [um] * 4, "excluded": False, "final": um, "method": "h"}
    return {
        "query_id": f"q-{q:04d}",
        "query": f"Synthetic user request number {q} about something the setting cares about?",
        "tier": tier,
        "setting": setting,
        "prefix": "none",
        "variation": variation,
        "sample_index": 0,
        "prefix_text": "",
        "turns": [f"<SCRATCHPAD_REASONING>\n{reasoning}\n</SCRATCHPAD_REASONING>", f"<OUTPUT>\n{output}\n</OUTPUT>"],
        "status": "no_output" if failed else "ok",
        "error": None,
        "output": None if failed else output,
        "reasoning": [reasoning],
        "repairs": [],
        "labels": labels,
        "calls": 2,
        "cache_hits": 0,
    }


def build_store(root: Path, n_runs: int, n_transcripts: int, pad: int) -> tuple[str, Path, float]:
    """The synthetic store; returns (tracking uri, sweep dir, MB of transcripts)."""
    uri = tracking.tracking_uri(root)
    artifacts = root / "mlruns" / "artifacts"
    sweep = root / "outputs" / "multirun" / "2030-01-01_00-00-00"
    parent = tracking.create_parent_run(uri, "afx", artifacts, sweep, {"afx.sweep_id": sweep.name})
    params = params_template()
    rng = random.Random(0)
    size = 0
    per_setting = n_runs // len(SETTINGS)
    for i in range(n_runs):
        setting = SETTINGS[i // per_setting % len(SETTINGS)]
        variation = f"v{i % per_setting:03d}"
        f = rng.uniform(0.0, 0.4)
        t = 0.0 if setting == "helpful_only" else rng.uniform(0, 0.1)
        r = rng.uniform(0.2, 0.9 - f - t)
        shares = {"faker": f, "refuser": r, "tier_sensitive": t, "complier": 1 - f - r - t}
        records = [
            record(rng, setting, tier, q, variation, shares, pad)
            for q in range(n_transcripts // 2)
            for tier in ("train", "unmonitored")
        ]
        job_dir = sweep / str(i)
        job_dir.mkdir(parents=True)
        path = job_dir / "transcripts.jsonl"
        with path.open("w", encoding="utf-8") as sink:
            for rec in records:
                sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
        size += path.stat().st_size
        metrics = compute_job_metrics(records)
        tags = {
            "setting": setting,
            "prefix": "none",
            "variation": variation,
            "model": "bench-model",
            "backend": "simulated",
            "classifier": "heuristic",
            "prefix_mode": "prefill",
            "afx.sweep_id": sweep.name,
            "afx.kind": "job",
        }
        run = tracking.JobRun(uri, "afx", artifacts, f"{setting}/none/{variation}", tags, parent)
        run.log_params({**params, "setting.name": setting})
        run.log_metrics(metrics.values)
        if metrics.na:
            run.set_tags({f"na.{k}": v for k, v in metrics.na.items()})
        run.log_artifact(path)
        run.end()
    return uri, sweep, size / 1e6


def timed(cmd: list[str], cwd: Path) -> dict:
    """Wall and CPU time of a child process, and the largest peak RSS of any child so far (RUSAGE_CHILDREN
    keeps a running maximum; the phase child reports its own peak separately)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_children_mb": round(after.ru_maxrss / 1024, 1)}


PHASES = """
import json, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from afx_summary.load import Selection
from afx_summary.pipeline import Options, summarize
t1 = time.perf_counter()
s = summarize(Selection(sys.argv[1], "afx", sweep_id=sys.argv[2]), Path(sys.argv[3]), Options(), None)
print(json.dumps({"import_s": round(t1 - t0, 2), **{k: round(v, 2) for k, v in s.seconds.items()},
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def repeated(cmd: list[str], cwd: Path, repeats: int) -> dict:
    """Min and median over repeats: the minimum is the least disturbed by other processes on the machine."""
    runs = [timed(cmd, cwd) for _ in range(repeats)]
    walls, cpus = sorted(r["wall_s"] for r in runs), sorted(r["cpu_s"] for r in runs)
    return {
        "wall_s_min": walls[0],
        "wall_s_median": walls[len(walls) // 2],
        "cpu_s_min": cpus[0],
        "cpu_s_median": cpus[len(cpus) // 2],
        "peak_rss_children_mb": max(r["peak_rss_children_mb"] for r in runs),
        "repeats": repeats,
    }


def measure(size: str, n_runs: int, n_transcripts: int, repeats: int) -> dict:
    pad = 0 if size == "simulator" else 3800
    with tempfile.TemporaryDirectory(prefix="afx-bench-summary-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        uri, sweep, mb = build_store(root, n_runs, n_transcripts, pad)
        build_s = time.perf_counter() - t
        env_cmd = [sys.executable, "-m", "afx", "summary"]
        phases = subprocess.run(
            [sys.executable, "-c", PHASES, uri, sweep.name, str(root / "phases")], capture_output=True, text=True
        )
        if phases.returncode != 0:
            raise SystemExit(phases.stderr[-3000:])
        out = {
            "store": {
                "runs": n_runs,
                "transcripts_per_run": n_transcripts,
                "transcripts_mb": round(mb, 1),
                "bytes_per_transcript": round(mb * 1e6 / (n_runs * n_transcripts)),
                "build_s": round(build_s, 1),
            },
            "phases_in_process": json.loads(phases.stdout.strip().splitlines()[-1]),
            "cli_no_log": repeated(
                [*env_cmd, "--sweep", str(sweep), "--no-log", "--out", str(root / "a")], root, repeats
            ),
            "cli_log_to_parent_run": repeated([*env_cmd, "--sweep", str(sweep)], root, repeats),
            "cli_filter_new_run_and_tag_300_sources": repeated(
                [*env_cmd, "--filter", f"tags.`afx.sweep_id` = '{sweep.name}'", "--out", str(root / "c")], root, repeats
            ),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--transcripts", type=int, default=800)
    parser.add_argument("--sizes", default="simulator,llm")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result: dict = {
        "what": "afx summary over one sweep of N runs x M transcripts (see this script's docstring)",
        "goal": "<= 10 s and <= 2 GB",
        "machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "python": platform.python_version(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d"),
    }
    for size in args.sizes.split(","):
        result[size] = measure(size, args.runs, args.transcripts, args.repeats)
        print(json.dumps({size: result[size]}, indent=2), flush=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
