#!/usr/bin/env python3
"""Open a sweep's MLflow comparison view in headless Chromium and save a screenshot.

    python scripts/mlflow_ui_check.py                                    # ./mlruns/mlflow.db, the latest sweep
    python scripts/mlflow_ui_check.py --store sqlite:////path/mlruns/mlflow.db --out docs/img/mlflow_compare.png

Starts `mlflow ui` on 127.0.0.1 (a free port) over the store, finds the sweep's parent run (the latest one, or
--sweep-id) and its child runs, opens `#/compare-runs?runs=[...]&experiments=[...]` in Debian's Chromium
(`--headless --no-sandbox ...`, a fresh profile), checks the page shows every child run, and writes the
screenshot. Exit codes: 0 ok, 1 the page did not show the runs, 2 bad input or missing Chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from afx.testing.chromium import INSTALL_HINT, chromium_path, run_chromium


def fail(message: str, code: int = 2) -> None:
    print(f"mlflow_ui_check: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def chromium() -> str:
    found = chromium_path()
    if found is None:
        fail(f"headless Chromium not found: {INSTALL_HINT}")
    return found  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sweep_runs(store: str, experiment: str, sweep_id: str | None) -> tuple[str, list[str], list[str]]:
    """(experiment id, child run ids, child run names) of the chosen sweep."""
    from mlflow.tracking import MlflowClient

    if store.startswith("sqlite:///") and not Path(store.removeprefix("sqlite:///")).is_file():
        fail(f"no MLflow store at {store} (run a sweep first, or pass --store)")  # MLflow would create an empty one
    client = MlflowClient(store)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        fail(f"no experiment '{experiment}' in {store}")
    filt = "tags.`afx.kind` = 'sweep'" + (f" and tags.`afx.sweep_id` = '{sweep_id}'" if sweep_id else "")
    parents = client.search_runs([exp.experiment_id], filt, order_by=["attributes.start_time DESC"], max_results=1)
    if not parents:
        fail(f"no sweep{' ' + sweep_id if sweep_id else ''} in experiment '{experiment}' of {store}")
    parent = parents[0].info.run_id
    children = client.search_runs(
        [exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'", order_by=["attributes.run_name ASC"]
    )
    children = [r for r in children if r.data.tags.get("afx.kind") == "job"]
    if not children:
        fail(f"sweep parent run {parent} has no job runs")
    return exp.experiment_id, [r.info.run_id for r in children], [r.info.run_name for r in children]


def compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    query = urllib.parse.urlencode(
        {"runs": json.dumps(run_ids, separators=(",", ":")), "experiments": json.dumps([experiment_id])}
    )
    return f"{base}/#/compare-runs?{query}"


def wait_http(url: str, timeout: float, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    return False


def check(
    store: str,
    out: Path,
    experiment: str = "afx",
    sweep_id: str | None = None,
    budget_ms: int = 10000,
    size: str = "1600,1700",
) -> tuple[str, str]:
    """Serve the store, render the comparison view; returns (url, rendered DOM). Raises SystemExit on failure."""
    exe = chromium()  # fail early
    exp_id, run_ids, names = sweep_runs(store, experiment, sweep_id)
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1"]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            if not wait_http(f"{base}/health", 120, server):
                log.seek(0)
                fail(f"mlflow ui did not start: {log.read().decode(errors='replace')[-1500:]}")
            url = compare_url(base, exp_id, run_ids)
            budget = f"--virtual-time-budget={budget_ms}"
            dom = run_chromium(url, "--dump-dom", budget, timeout=120)
            if dom.returncode != 0:
                fail(f"{exe} --dump-dom failed: {dom.stderr[-1500:]}")
            out.parent.mkdir(parents=True, exist_ok=True)
            shot = run_chromium(
                url, f"--screenshot={out.resolve()}", f"--window-size={size}", "--hide-scrollbars", budget, timeout=120
            )
            if shot.returncode != 0 or not out.is_file():
                fail(f"{exe} --screenshot failed: {shot.stderr[-1500:]}")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    missing = [n for n in names if n not in dom.stdout]
    if missing:
        fail(f"the comparison view at {url} does not show runs {missing}", code=1)
    return url, dom.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot a sweep's MLflow comparison view in headless Chromium.")
    parser.add_argument("--store", default=f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}", help="backend store URI")
    parser.add_argument("--experiment", default="afx")
    parser.add_argument("--sweep-id", help="the sweep's afx.sweep_id tag (its directory name); default: the latest")
    parser.add_argument("--out", type=Path, default=Path("docs/img/mlflow_compare.png"))
    parser.add_argument("--budget-ms", type=int, default=10000, help="virtual time Chromium gives the page to render")
    parser.add_argument("--window-size", default="1600,1700", help="screenshot size, WIDTH,HEIGHT")
    args = parser.parse_args(argv)
    url, _ = check(args.store, args.out, args.experiment, args.sweep_id, args.budget_ms, args.window_size)
    print(f"mlflow_ui_check: {url}")
    print(f"mlflow_ui_check: screenshot {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
