"""model.request_processes > 1 (requests sent from worker processes, each with its own anthropic SDK client)
against the loopback fake server: the same answers, errors, retries, counts and files as in-process requests;
workers start on the first fresh call only and never outlive their job (end, Ctrl-C, SIGKILL)."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from afx.backends.anthropic_api import AnthropicBackend
from afx.backends.base import GenerationRequest
from afx.errors import AfxError
from afx.sampling import TransientError
from afx.testing.fake_anthropic import FakeAnthropic, Faults
from helpers import run_afx

KEY = "sk-ant-SENTINEL-request-processes-5d1c"
STARTED = "started 2 request processes"
FAULTS = ("429", "529", "500", "drop")
FAST = {"AFX_SKIP_PREFLIGHT": "1"}  # the command-line checks are tested elsewhere; they cost ~1.5 s a run


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for init to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def _tagged(tag: str) -> list[int]:
    """Live processes whose environment carries `tag` (the afx run and everything it started)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if tag.encode() in environ.read_bytes() and _alive(int(environ.parent.name)):
                found.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours
            pass
    return found


def _gone(tag: str, within_s: float = 10.0) -> bool:
    deadline = time.time() + within_s
    while _tagged(tag) and time.time() < deadline:
        time.sleep(0.1)
    return not _tagged(tag)


def _faults() -> Faults:
    """The first attempt of every other request fails (which ones: fixed by the request body, so every run fails
    the same requests); the kinds go round in the order the failing requests arrive, so each run counts as many
    of each kind, whatever the order."""
    kinds: dict[bytes, str] = {}
    lock = threading.Lock()

    def pick(body: dict, attempt: int) -> str | None:
        digest = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).digest()
        if attempt or digest[0] % 2:
            return None
        with lock:
            return kinds.setdefault(digest, FAULTS[len(kinds) % len(FAULTS)])

    return Faults(fn=pick, retry_after_s=0.05)


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow database for the module's runs, made here (creating one costs seconds; two jobs at once must
    not both try)."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()
    return uri


def _backend(fake: FakeAnthropic, processes: int, **extra) -> AnthropicBackend:
    model = {"name": "claude-sonnet-5-5", "api_key_env": "AFX_RP_KEY", "base_url": fake.url, "verify": False}
    return AnthropicBackend({**model, "max_concurrency": 4, "request_processes": processes, **extra})


def _outcome(backend: AnthropicBackend, text: str):
    try:
        return backend.generate(GenerationRequest("sys", (("user", text),), "", {"max_tokens": 50}, "k"), 0)
    except Exception as exc:  # noqa: BLE001 - compared below
        return type(exc), str(exc), getattr(exc, "reason", None), getattr(exc, "retry_after", None)


def test_the_same_answers_and_errors_as_in_process(monkeypatch):
    monkeypatch.setenv("AFX_RP_KEY", KEY)
    with FakeAnthropic(api_keys={KEY}) as fake:
        local, remote = (_backend(fake, n, timeout_s=0.3, retired="no longer served") for n in (1, 2))
        assert remote._processes is None, "no worker before the first call"
        try:
            assert _outcome(local, "hello") == _outcome(remote, "hello")
            assert len(remote.processes.pids) == 2
            for kind in (*FAULTS, "slow"):
                fake.faults = Faults(fn=lambda body, attempt, kind=kind: kind, retry_after_s=2.5, slow_s=1.0)
                a, b = _outcome(local, kind), _outcome(remote, kind)
                assert a == b and a[0] is TransientError, (a, b)
                assert (a[3] == 2.5) == (kind in ("429", "529")), "the server's retry-after reaches the retry policy"
            fake.faults = Faults()
            fake.retired_models = {"claude-sonnet-5-5"}
            a, b = _outcome(local, "x"), _outcome(remote, "x")
            assert a == b and a[0] is AfxError and "404" in a[1] and "no longer served" in a[1], (a, b)
            fake.api_keys = {"another-key"}
            a, b = _outcome(local, "x"), _outcome(remote, "x")
            rejected = "AFX_RP_KEY was rejected by the Anthropic API (401 authentication_error)"
            assert a == b == (AfxError, rejected, None, None)
        finally:
            pids = remote.processes.pids
            remote.release()
        assert not any(_alive(pid) for pid in pids), "release() stops every worker"


def _run(
    cwd: Path, fake: FakeAnthropic, processes: int, tag: str, uri: str, *extra: str
) -> subprocess.CompletedProcess:
    cwd.mkdir(parents=True, exist_ok=True)
    args = (
        "model=anthropic",
        f"model.base_url={fake.url}",
        f"model.request_processes={processes}",
        "model.max_concurrency=6",
        "model.retry_wait_s=0.01",
        "data.limit=5",
        "progress=false",
        "viewer=false",
        *extra,
    )
    env = {"ANTHROPIC_API_KEY": KEY, "AFX_RP_TAG": tag, "MLFLOW_TRACKING_URI": uri, **FAST}
    return run_afx(*args, cwd=cwd, env=env, timeout=120)


def _job(cwd: Path) -> tuple[dict, list[str]]:
    """(metrics.json, transcripts.jsonl lines) of the one run under cwd."""
    run = next(cwd.glob("outputs/runs/*"))
    return json.loads((run / "metrics.json").read_text()), (run / "transcripts.jsonl").read_text().splitlines()


def test_jobs_through_two_request_processes_match_one(tmp_path, tracking_uri):
    """The same job with 1 and 2 request processes under the same faults, and a job whose key the API rejects
    (three jobs at once: the test takes a third as long); then a fully cached rerun."""
    tag = uuid.uuid4().hex
    with (
        FakeAnthropic(latency_s=0.01, faults=_faults(), api_keys={KEY}) as fake1,
        FakeAnthropic(latency_s=0.01, faults=_faults(), api_keys={KEY}) as fake2,
        FakeAnthropic(api_keys={"the-right-key"}) as rejecting,
        cf.ThreadPoolExecutor(3) as pool,
    ):
        fakes = {1: fake1, 2: fake2}
        futures = {n: pool.submit(_run, tmp_path / str(n), fake, n, tag, tracking_uri) for n, fake in fakes.items()}
        rejected = pool.submit(_run, tmp_path / "401", rejecting, 2, tag, tracking_uri, "model.verify=false").result()
        done = {n: future.result() for n, future in futures.items()}
        assert _gone(tag), "no worker outlives its job"
        runs = {}
        for processes, fake in fakes.items():
            assert done[processes].returncode == 0, done[processes].stderr[-3000:]
            assert (STARTED in done[processes].stdout + done[processes].stderr) == (processes == 2)
            metrics, transcripts = _job(tmp_path / str(processes))
            assert metrics["metrics"]["calls/model"] == fake.count("messages")
            runs[processes] = metrics, transcripts, dict(fake.faults_injected)
        fake2.reset()  # a fully cached rerun: no request, no worker started
        rerun = _run(tmp_path / "2", fake2, 2, tag, tracking_uri)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert sum(fake2.counts.values()) == 0 and STARTED not in rerun.stdout + rerun.stderr
    (m1, t1, faults1), (m2, t2, faults2) = runs[1], runs[2]
    assert faults1 == faults2 and set(faults1) == set(FAULTS), faults1
    assert t1 == t2, "the same transcripts"
    assert m1 == m2, "the same metrics, retries counted by the same reasons"
    assert m2["metrics"]["calls/retries"] == sum(faults2.values())

    assert rejected.returncode == 2 and STARTED in rejected.stdout + rejected.stderr
    errors = [line for line in rejected.stderr.splitlines() if line.startswith("afx: error:")]
    assert errors == ["afx: error: ANTHROPIC_API_KEY was rejected by the Anthropic API (401 authentication_error)"]
    assert "Traceback" not in rejected.stderr and "retry" not in rejected.stderr

    db_path = Path(tracking_uri.removeprefix("sqlite:///"))
    files = [db_path, *(path for path in tmp_path.rglob("*") if path.is_file())]  # outputs/, mlruns/ of every job
    assert len(files) > 20 and not [path for path in files if KEY.encode() in path.read_bytes()]
    assert KEY not in "".join(r.stdout + r.stderr for r in (*done.values(), rejected, rerun))
    logged = sqlite3.connect(db_path).execute("SELECT value FROM params WHERE key = 'model.request_processes'")
    assert {"1", "2"} <= {value for (value,) in logged}, "logged with the other model keys"


def test_ctrl_c_stops_the_workers(tmp_path, tracking_uri):
    tag = uuid.uuid4().hex
    with FakeAnthropic(latency_s=0.1) as fake:
        cmd = [sys.executable, "-m", "afx", "model=anthropic", f"model.base_url={fake.url}"]
        cmd += ["model.request_processes=2", "model.max_concurrency=4", "data.limit=40", "progress=false"]
        env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "AFX_RP_TAG": tag, "MLFLOW_TRACKING_URI": tracking_uri, **FAST}
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while fake.count("messages", ok=True) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert len(_tagged(tag)) >= 3, "the job and its two workers"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
    assert _gone(tag)


WORKER_OWNER = """
import os, sys, time
from afx.backends.anthropic_api import AnthropicBackend
from afx.backends.base import GenerationRequest
backend = AnthropicBackend({"name": "claude-sonnet-5-5", "base_url": sys.argv[1], "verify": False,
                            "request_processes": 2})
backend.generate(GenerationRequest("sys", (("user", "hi"),), "", {"max_tokens": 20}, "k"), 0)
print(*backend.processes.pids, flush=True)
time.sleep(600)
"""


def test_workers_exit_when_their_job_is_killed():
    with FakeAnthropic() as fake:
        env = {**os.environ, "ANTHROPIC_API_KEY": KEY}
        owner = subprocess.Popen(
            [sys.executable, "-c", WORKER_OWNER, fake.url], env=env, stdout=subprocess.PIPE, text=True
        )
        pids = [int(pid) for pid in owner.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        owner.kill()  # SIGKILL: no atexit, no release()
        owner.wait(timeout=10)
    deadline = time.time() + 10
    while any(_alive(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids), "workers exit when their socket closes"


def test_request_processes_must_be_a_whole_number_from_1():
    model = {"name": "claude-sonnet-5-5", "prefix_mode": "turn"}
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(AfxError, match="model.request_processes must be a whole number >= 1"):
            AnthropicBackend.validate_config({**model, "request_processes": bad}, has_prefix=False, check_env=False)
    AnthropicBackend.validate_config({**model, "request_processes": 3}, has_prefix=False, check_env=False)
