"""Two sweep-level goals against the fake Anthropic server (served from this process; afx runs as the CLI):

1. prompt caching, per shipped Anthropic model config (conf/model/anthropic*.yaml) and per mode (online, and
   Message Batches): the share of input tokens that are cache reads and the cost (cost/usd, afx's own figure) of a
   sweep with one system prompt per job, from the usage figures the fake reports the way the API does: the
   model's minimum cacheable prefix enforced, batches processed out of order in concurrent waves over simulated
   time (fake_batches.py: 16 at a time over 30 minutes), 1-hour cache entries in batch mode (goal >= 90%);
   writes bench/results/api_cache.json.
2. rerun of a finished 2 x 3 sweep (setting x prefix): API calls made and wall time (goals: 0 calls, < 10 s),
   rerun `--repeats` times (median, min, max and the load averages around each); writes
   bench/results/api_rerun.json. The goal counts as met only if every rerun is under 10 s.

Usage: .venv/bin/python bench/api_sweep.py [--limit 20] [--configs anthropic,anthropic_opus_4_5] [--skip-rerun]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from afx.paths import conf_dir
from afx.testing.fake_anthropic import FakeAnthropic

RESULTS = Path(__file__).parent / "results"


CPU: dict[str, float] = {}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def afx(cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI; wall seconds returned, the child's CPU seconds left in CPU["last"]."""
    env = {**os.environ, "ANTHROPIC_API_KEY": "bench-key", "PYTHONUNBUFFERED": "1"}
    start, cpu0 = time.perf_counter(), _child_cpu()
    done = subprocess.run([sys.executable, "-m", "afx", *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    CPU["last"] = _child_cpu() - cpu0
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return done, wall


def job_metrics(cwd: Path) -> list[dict]:
    out = []
    for path in sorted(cwd.glob("outputs/multirun/*/*/metrics.json")):
        metrics = json.loads(path.read_text())["metrics"]
        row = json.loads((path.parent / "transcripts.jsonl").read_text().splitlines()[0])
        out.append({"job": f"{row['setting']}/{row['prefix']}", **metrics})
    return out


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    return {
        "load_average_1m": round(os.getloadavg()[0], 2),
        "machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "date": time.strftime("%Y-%m-%d"),
    }


CONFIGS = sorted(path.stem for path in (conf_dir() / "model").glob("anthropic*.yaml"))
MODES = {"online": [], "batch": ["model.batch=true", "model.batch_poll_s=0.05"]}
KEYS = ("tokens/input", "tokens/cache_read", "tokens/cache_write", "tokens/output", "calls/model", "cost/usd")


def config_share(config: str, mode: str, limit: int) -> dict:
    """One sweep (helpful_only and animal_welfare, no prefix) of `config` against a fresh fake server."""
    with FakeAnthropic(batch_latency_s=0.05) as fake, tempfile.TemporaryDirectory() as tmp:
        args = ["-m", "setting=helpful_only,animal_welfare", "prefix=none", f"model={config}"]
        args += ["model.allow_retired=true", "model.max_concurrency=16", f"data.limit={limit}", *MODES[mode]]
        _, wall = afx(Path(tmp), *args, f"model.base_url={fake.url}", "progress=false")
        jobs = job_metrics(Path(tmp))
        prompts = {
            json.loads((d / "transcripts.jsonl").read_text().splitlines()[0])["setting"]: len(
                (d / "system_prompt.txt").read_text()
            )
            for d in (p.parent for p in Path(tmp).glob("outputs/multirun/*/*/metrics.json"))
        }
        below = fake.prompt_cache.below_minimum
    rows = [
        {"job": j["job"], **{k: j.get(k, 0.0) for k in KEYS}, "cache_read_share": j.get("tokens/cache_read_share", 0.0)}
        for j in jobs
    ]
    total_in = sum(j["tokens/input"] + j["tokens/cache_read"] + j["tokens/cache_write"] for j in rows)
    share = sum(j["tokens/cache_read"] for j in rows) / total_in
    return {
        "config": config,
        "mode": mode,
        "command": "python -m afx " + " ".join(args),
        "system_prompt_tokens_est": {k: -(-v // 4) for k, v in sorted(prompts.items())},
        "jobs": rows,
        "cache_read_share": round(share, 4),
        "cost_usd": round(sum(j["cost/usd"] for j in rows), 4),
        "model_calls": int(sum(j["calls/model"] for j in rows)),
        "requests_below_cache_minimum": below,
        "meets_goal": share >= 0.9,
        "wall_s": round(wall, 1),
    }


def cache_share(limit: int, configs: list[str]) -> dict:
    rows = [config_share(config, mode, limit) for config in configs for mode in MODES]
    return {
        "goal": 0.9,
        "data_limit": limit,
        "fake": "FakeAnthropic defaults: per-model cache minimum, batch_concurrency 16, batch_span_s 1800",
        "configs": rows,
        **machine(),
    }


def rerun(limit: int, repeats: int) -> dict:
    with FakeAnthropic() as fake, tempfile.TemporaryDirectory() as tmp:
        args = ["-m", "setting=helpful_only,animal_welfare", "prefix=none,deceptive,obedient", "model=anthropic"]
        args += [f"model.base_url={fake.url}", "model.max_concurrency=16", f"data.limit={limit}", "progress=false"]
        _, first_wall = afx(Path(tmp), *args)
        first_calls = {"messages": fake.count("messages"), "models": fake.count("models")}
        fake.reset()
        reruns = []
        for _ in range(repeats):
            time.sleep(1.1)  # sweep dirs are named by the second
            load_before = load()
            _, wall = afx(Path(tmp), *args)
            cpu = round(CPU["last"], 1)
            reruns.append({"wall_s": round(wall, 1), "cpu_s": cpu, "load_before": load_before, "load_after": load()})
        calls = {route: n for route, n in fake.counts.items() if not route.endswith(":ok")}
        jobs = [j for j in job_metrics(Path(tmp))][-6:]
    walls = sorted(r["wall_s"] for r in reruns)
    return {
        "command": "python -m afx " + " ".join(args[:-1]),
        "first_run": {"wall_s": round(first_wall, 1), "api_requests": first_calls},
        "rerun": {
            "wall_s": walls[len(walls) // 2],  # the median of the reruns
            "wall_s_min": walls[0],
            "wall_s_max": walls[-1],
            "runs": reruns,
            "api_requests": sum(calls.values()),  # over all reruns
            "by_route": calls,
            "cache_hits": sum(j["calls/cache_hits"] for j in jobs),  # the last rerun
            "model_calls": sum(j["calls/model"] for j in jobs),
        },
        "goals": {"api_requests": 0, "wall_s_below": 10},
        "meets_goals": sum(calls.values()) == 0 and walls[-1] < 10,
        **machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=20, help="queries per job for the cache-share sweeps")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="model configs (default: every anthropic*)")
    parser.add_argument("--skip-rerun", action="store_true", help="only the cache-share sweeps")
    parser.add_argument("--rerun-limit", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="reruns of the finished sweep (median reported)")
    args = parser.parse_args()
    cache = cache_share(args.limit, [c for c in args.configs.split(",") if c])
    (RESULTS / "api_cache.json").write_text(json.dumps(cache, indent=2) + "\n")
    for row in cache["configs"]:
        print(json.dumps({k: row[k] for k in ("config", "mode", "cache_read_share", "cost_usd", "meets_goal")}))
    if args.skip_rerun:
        return
    again = rerun(args.rerun_limit, args.repeats)
    (RESULTS / "api_rerun.json").write_text(json.dumps(again, indent=2) + "\n")
    print(json.dumps({k: again[k] for k in ("first_run", "rerun", "meets_goals")}))


if __name__ == "__main__":
    main()
