"""Throughput of the real job path (worker pool -> turn loop -> CachedBackend -> anthropic SDK -> heuristic
classifier) against the fake Anthropic server run as a separate process with fixed latency L, for concurrency C.
Target: calls/s >= 0.9 * C / L. Also the CPU per call of the client process (SDK and HTTP included; user and
system time) and of the fake server process, the ceiling those imply on this machine's cores
(cores / (client + server CPU per call), and 1 / client user CPU per call, the Python client being one process
under one GIL), the load averages around each row, and afx's own CPU per sample with a zero-cost backend
(framework overhead alone; target < 2 ms). With `--request-processes 1,2` every row is run once per value of
model.request_processes (the SDK calls in that many worker processes; their CPU is read from /proc and counted
with the client's). Writes bench/results/api_throughput.json.

Usage: .venv/bin/python bench/api_throughput.py [--latencies 0.05,0.1,0.2,1.0] [--concurrency 1,4,16,64]
       [--request-processes 1,2] [--subset-processes 3] [--idle 0.15] [--min-timed-s 5] [--skip-baselines]
(--subset-processes: request_processes values run on the grid L = 0.05, 0.1, 0.2 s x C = 16, 64 only;
--idle: before each row wait until the machine has used less than that many cores for 2 s;
--min-timed-s: run a row again until its timed calls add up to that many seconds, at most 5 times, and report
the lower median run)
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from afx.backends.anthropic_api import AnthropicBackend
from afx.backends.base import Generation, GenerationRequest
from afx.cache import ResponseCache
from afx.classify.heuristic import HeuristicClassifier
from afx.job import _run_pool, build_job_spec
from afx.paths import conf_dir
from afx.prompts import build_user_turn
from afx.sampling import CachedBackend, RetryPolicy, sample_transcript
from afx.testing.fake_anthropic import protocol_reply
from afx.transcript import Transcript

os.environ.setdefault("ANTHROPIC_API_KEY", "bench-key")  # the fake server takes any key
ROUNDS = 16  # calls per worker in a timed run (about ROUNDS * L seconds)
MIN_CALLS = 64  # at low concurrency: enough calls for a stable rate and CPU figure


def _spec():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["model=anthropic", "data.limit=null"], return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        return build_job_spec(job, load_data=True, check_env=False), OmegaConf.to_container(job.model, resolve=True)


def _server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "afx.testing.fake_anthropic", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()
    return proc, url


def _work_fn(spec, backend, classifier, n_samples: int, lock: threading.Lock, sink: list):
    queries = (spec.queries * (n_samples // max(1, len(spec.queries)) + 1))[:n_samples]

    def work(i: int) -> None:
        q = queries[i]
        tier = ("train", "unmonitored")[i % 2]
        t = Transcript(f"{q.id}#{i}", q.text, tier, spec.setting_name, "none", "default", i)
        sample_transcript(backend, spec.plan, t, build_user_turn(q.text + f" ({i})", tier, spec.cue), {})
        if t.valid:
            t.labels = classifier.label(t, spec.noncompliance)
        line = json.dumps(t.to_dict())
        with lock:
            sink.append(line)

    return work


def _server_cpu(url: str) -> float:
    """CPU seconds of the fake server's process, all threads (also those of closed connections)."""
    with urllib.request.urlopen(f"{url}/_fake/cpu", timeout=10) as response:
        return float(json.loads(response.read())["process_cpu_s"])


def _own_cpu() -> tuple[float, float, float]:
    """(total, user, system) CPU seconds of this process: the total exact, the split from getrusage."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.process_time(), usage.ru_utime, usage.ru_stime


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _machine_busy() -> float:
    """CPU seconds all processes on the machine have spent so far (user, nice, system, irq, softirq)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def _wait_idle(max_cores: float, timeout_s: float = 900.0) -> float:
    """Wait until the machine spends under `max_cores` of CPU over 2 s (nothing else running); returns it."""
    deadline = time.time() + timeout_s
    while True:
        busy0 = _machine_busy()
        time.sleep(2.0)
        busy = (_machine_busy() - busy0) / 2.0
        if busy < max_cores or time.time() > deadline:
            return round(busy, 3)


def _workers_cpu(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of the request processes so far, from /proc (clock-tick resolution)."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        user, system = user + int(fields[11]) / tick, system + int(fields[12]) / tick
    return user, system


def measure(spec, model_cfg, latency: float, workers: int, tmp: Path, processes: int = 1, idle: float = 0.0) -> dict:
    idle_before = _wait_idle(idle) if idle else None
    proc, url = _server(latency)
    api = None
    try:
        model = {**model_cfg, "base_url": url, "verify": False, "max_concurrency": workers}
        api = AnthropicBackend({**model, "request_processes": processes})
        cache = ResponseCache(tmp / f"c{latency}_{workers}_{processes}_{time.monotonic_ns()}.sqlite")  # fresh per run
        backend = CachedBackend(api, cache, policy=RetryPolicy(6, 0.05))
        # the first call of a job goes alone (it writes the server's prompt cache): done before timing
        plan = spec.plan
        warm = GenerationRequest(spec.system_prompt, (("user", "warm"),), plan.first_prefill, plan.params, "w")
        backend.generate(warm)
        pids = []
        if processes > 1:  # every worker has loaded the SDK before timing starts
            assert api.processes.wait_ready()
            pids = api.processes.pids
        n_samples = max(MIN_CALLS, ROUNDS * workers) // 2  # 2 calls per sample
        lock, sink = threading.Lock(), []
        work = _work_fn(spec, backend, HeuristicClassifier(), n_samples, lock, sink)
        calls0 = backend.stats.calls
        load0, server0, own0, sub0 = _load(), _server_cpu(url), _own_cpu(), _workers_cpu(pids)
        busy0, wall0 = _machine_busy(), time.perf_counter()
        _run_pool(work, list(range(n_samples)), workers, threading.Event())
        wall = time.perf_counter() - wall0
        busy1, own1, server1, sub1, load1 = _machine_busy(), _own_cpu(), _server_cpu(url), _workers_cpu(pids), _load()
        calls = backend.stats.calls - calls0
    finally:
        if api is not None:
            api.release()
        proc.terminate()
        proc.wait()
    rate = calls / wall
    target = 0.9 * workers / latency
    cpu, user, system = ((b - a) / calls for a, b in zip(own0, own1, strict=True))
    sub_user, sub_system = ((b - a) / calls for a, b in zip(sub0, sub1, strict=True))
    server = (server1 - server0) / calls
    cores = len(os.sched_getaffinity(0))
    # what the CPU alone allows: all cores shared by job, request processes and server; each Python process
    # under its own GIL (the request processes share the SDK's work)
    gil = min(1 / user, processes / sub_user) if processes > 1 else 1 / user
    return {
        "latency_s": latency,
        "concurrency": workers,
        "request_processes": processes,
        "samples": n_samples,
        "calls": calls,
        "wall_s": round(wall, 3),
        "calls_per_s": round(rate, 1),
        "target_calls_per_s": round(target, 1),
        "meets_target": rate >= target,
        "ratio_to_ideal": round(rate / (workers / latency), 3),
        "client_cpu_ms_per_call": round(1000 * cpu, 3),
        "client_user_ms_per_call": round(1000 * user, 3),
        "client_system_ms_per_call": round(1000 * system, 3),
        "request_processes_cpu_ms_per_call": round(1000 * (sub_user + sub_system), 3),
        "request_processes_user_ms_per_call": round(1000 * sub_user, 3),
        "server_cpu_ms_per_call": round(1000 * server, 3),
        "cpu_ceiling_calls_per_s": round(min(cores / (cpu + sub_user + sub_system + server), gil)),
        "load_average_before": load0,
        "load_average_after": load1,
        # CPU used by anything else on the machine during the row, in cores (0 = the bench had the machine)
        "other_cpu_cores": round(
            max(0.0, (busy1 - busy0) - (own1[0] - own0[0]) - sum(sub1) + sum(sub0) - (server1 - server0)) / wall, 3
        ),
        "machine_busy_cores_before": idle_before,
    }


def measure_repeated(spec, model_cfg, latency: float, workers: int, tmp: Path, processes: int, args) -> dict:
    """`measure` again until `args.min_timed_s` of timed calls add up (at most 5 runs): the median run by
    calls/s, with every run's calls/s and ratio (short rows vary by +-10% from run to run)."""
    runs: list[dict] = []
    while not runs or (sum(r["wall_s"] for r in runs) < args.min_timed_s and len(runs) < 5):
        runs.append(measure(spec, model_cfg, latency, workers, tmp, processes, args.idle))
    runs.sort(key=lambda r: r["calls_per_s"])
    row = dict(runs[(len(runs) - 1) // 2])  # the lower median
    row["runs_calls_per_s"] = [r["calls_per_s"] for r in runs]
    row["runs_ratio_to_ideal"] = [r["ratio_to_ideal"] for r in runs]
    return row


class _Instant:
    """A zero-cost backend that speaks the protocol (reused fake reply), to time afx's own work per sample."""

    name = "instant"

    def identity(self) -> dict:
        return {"backend": self.name}

    def generate(self, request: GenerationRequest, seed: int) -> Generation:
        messages = [{"role": r, "content": c} for r, c in request.messages]
        if request.prefill:
            messages.append({"role": "assistant", "content": request.prefill})
        return Generation(protocol_reply({"system": request.system, "messages": messages}), "stop", 10, 10)


def framework_overhead(spec, tmp: Path, n_samples: int = 2000) -> dict:
    """afx CPU per sample: turn loop, cache key + SQLite write, parse, classify, JSON line; no model time."""
    backend = CachedBackend(_Instant(), ResponseCache(tmp / "overhead.sqlite"))
    lock, sink = threading.Lock(), []
    work = _work_fn(spec, backend, HeuristicClassifier(), n_samples, lock, sink)
    cpu0 = time.process_time()
    _run_pool(work, list(range(n_samples)), 1, threading.Event())
    cpu = time.process_time() - cpu0
    reply_cpu0 = time.process_time()
    inst = _Instant()
    req = GenerationRequest(spec.system_prompt, (("user", "x"),), spec.plan.first_prefill, {}, "k")
    for _ in range(n_samples * 2):
        inst.generate(req, 0)
    reply_cpu = time.process_time() - reply_cpu0  # the stand-in model's own cost, subtracted
    per_sample = (cpu - reply_cpu) / n_samples
    return {
        "samples": n_samples,
        "calls_per_sample": round(backend.stats.calls / n_samples, 2),
        "afx_cpu_ms_per_sample": round(1000 * per_sample, 3),
        "target_ms": 2.0,
        "meets_target": per_sample < 0.002,
    }


def _hammer(call, workers: int, n_calls: int) -> None:
    """`call()` n_calls times from `workers` threads."""
    todo, lock = iter(range(n_calls)), threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            call()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class _PlainClient:
    """One keep-alive http.client connection per thread: no SDK, no httpx."""

    def __init__(self, url: str, body: bytes) -> None:
        self.host, self.body, self.local = url.removeprefix("http://"), body, threading.local()
        self.headers = {"x-api-key": "bench-key", "content-type": "application/json", "anthropic-version": "2026-10-21"}

    def __call__(self) -> None:
        if (conn := getattr(self.local, "conn", None)) is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, timeout=30)
        conn.request("POST", "/v1/messages", self.body, self.headers)
        json.loads(conn.getresponse().read())


def client_baselines(spec, model_cfg, latency: float, workers: int, n_calls: int = 2048) -> list[dict]:
    """The same single call (one turn of one sample) by `workers` threads at latency L, with less and less client
    code: the anthropic SDK alone (AnthropicBackend.generate: no cache, turn loop or classifier), then a plain
    http.client keep-alive connection per thread (no SDK, no httpx). Shows where the ceiling of the job path
    lies: the fake server and the loopback carry the plain client much closer to C / L."""
    plan = spec.plan
    request = GenerationRequest(spec.system_prompt, (("user", "<user_input>q</user_input>"),), "", plan.params, "b")
    rows = []
    for kind in ("anthropic SDK", "http.client"):
        proc, url = _server(latency)
        try:
            backend = AnthropicBackend({**model_cfg, "base_url": url, "verify": False})
            if kind == "http.client":
                call = _PlainClient(url, json.dumps(backend.request_params(request)).encode())
            else:
                call = functools.partial(backend.generate, request, 0)
            call()  # warm: writes the prompt cache
            server0, cpu0, wall0 = _server_cpu(url), time.process_time(), time.perf_counter()
            _hammer(call, workers, n_calls)
            wall, cpu, server = time.perf_counter() - wall0, time.process_time() - cpu0, _server_cpu(url) - server0
        finally:
            proc.terminate()
            proc.wait()
        rows.append(
            {
                "client": kind,
                "latency_s": latency,
                "concurrency": workers,
                "calls": n_calls,
                "calls_per_s": round(n_calls / wall, 1),
                "ratio_to_ideal": round(n_calls / wall / (workers / latency), 3),
                "client_cpu_ms_per_call": round(1000 * cpu / n_calls, 3),
                "server_cpu_ms_per_call": round(1000 * server / n_calls, 3),
                "load_average_after": _load(),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latencies", default="0.05,0.1,0.2,1.0")
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--request-processes", default="1", help="model.request_processes values, e.g. 1,2")
    parser.add_argument("--subset-processes", default="", help="request_processes values for the small grid only")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--min-timed-s", type=float, default=0.0, help="repeat a row until this much timed wall")
    parser.add_argument(
        "--idle", type=float, default=0.0, help="before each row wait until the machine uses < this many cores"
    )
    args = parser.parse_args()

    def floats(text: str) -> list[float]:
        return [float(x) for x in text.split(",")]

    spec, model_cfg = _spec()
    load_start = _load()
    rows = []
    grids = [(int(n), floats(args.latencies), floats(args.concurrency)) for n in args.request_processes.split(",")]
    grids += [(int(n), [0.05, 0.1, 0.2], [16, 64]) for n in filter(None, args.subset_processes.split(","))]
    with tempfile.TemporaryDirectory() as tmp:
        for processes, latencies, concurrency in grids:
            for latency in latencies:
                for workers in concurrency:
                    row = measure_repeated(spec, model_cfg, latency, int(workers), Path(tmp), processes, args)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        overhead = framework_overhead(spec, Path(tmp))
        print(json.dumps(overhead), flush=True)
    baselines = [] if args.skip_baselines else client_baselines(spec, model_cfg, 0.05, 64)
    for row in baselines:
        print(json.dumps(row), flush=True)
    best: dict[tuple[float, int], bool] = {}
    for row in rows:
        cell = (row["latency_s"], row["concurrency"])
        best[cell] = best.get(cell, False) or row["meets_target"]
    result = {
        "what": "job path (pool -> turn loop -> CachedBackend -> anthropic SDK) vs the fake server in its own process",
        "model": f"{model_cfg['name']} ({model_cfg['prefix_mode']} mode)",
        "system_prompt_chars": len(spec.system_prompt),
        "load_average_start": load_start,
        "load_average_end": _load(),
        "runs": rows,
        "framework_overhead": overhead,
        "client_baselines": baselines,
        "all_meet_throughput_target": all(best.values()),  # with the best request_processes per (L, C)
        "all_meet_throughput_target_in_process": all(r["meets_target"] for r in rows if r["request_processes"] == 1),
        "cells_not_met": [list(cell) for cell, met in best.items() if not met],
        "machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    out = Path(__file__).parent / "results" / "api_throughput.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
