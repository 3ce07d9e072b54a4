#!/usr/bin/env python3
"""Start a shared MLflow tracking server for afx, bound to 127.0.0.1 by default.

    python scripts/mlflow_server.py                       # SQLite backend store in ./mlflow-server
    python scripts/mlflow_server.py --backend postgres    # a local PostgreSQL 15 cluster in ./mlflow-server/pgdata
    python scripts/mlflow_server.py --root /srv/afx-mlflow --port 5000

It prints the line to export once the server answers (`export MLFLOW_TRACKING_URI=http://127.0.0.1:5000`),
then runs in the foreground until Ctrl-C or SIGTERM, when it stops the server (and the PostgreSQL cluster it
started). Artifacts are proxied by the server (`--artifacts-destination <root>/artifacts`), so clients on other
machines upload through HTTP instead of writing to a path only they can see.

PostgreSQL: the cluster is created once with `initdb` (trust authentication on 127.0.0.1 only, superuser `afx`)
and started with `pg_ctl` on --pg-port; when this script runs as root, both run as the `postgres` user
(`runuser -u postgres --`), which must be able to enter --pgdata's parent directory. The MLflow server needs a
PostgreSQL driver in its environment: `pip install 'psycopg[binary]'` (or psycopg2-binary).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PG_BIN = Path(os.environ.get("AFX_PG_BIN", "/usr/lib/postgresql/15/bin"))
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def fail(message: str) -> None:
    print(f"mlflow_server: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def as_pg_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        return s.connect_ex((host, port)) == 0


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    return False


def pg_dialect() -> str:
    """The PostgreSQL driver this environment has: psycopg (3, SQLAlchemy 2's default) or psycopg2."""
    import importlib.util

    for module in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(module) is not None:
            return module
    fail("the MLflow server needs a PostgreSQL driver: pip install 'psycopg[binary]'")
    raise AssertionError  # unreachable


class Postgres:
    """A private PostgreSQL cluster in `pgdata`, listening on 127.0.0.1:`port` only."""

    def __init__(self, pgdata: Path, port: int, log: Path) -> None:
        self.pgdata, self.port, self.log = pgdata.resolve(), port, log.resolve()
        self.started = False

    def _run(self, cmd: list[str], what: str) -> None:
        done = subprocess.run(as_pg_user(cmd), capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-1500:]}")

    def start(self) -> str:
        for tool in ("initdb", "pg_ctl", "createdb", "pg_isready"):
            if not (PG_BIN / tool).is_file():
                fail(f"{PG_BIN / tool} not found: install PostgreSQL 15 (apt-get install postgresql) or set AFX_PG_BIN")
        dialect = pg_dialect()
        fresh = not (self.pgdata / "PG_VERSION").is_file()
        if fresh:
            self.pgdata.mkdir(parents=True, exist_ok=True)
            self.log.touch()
            if os.geteuid() == 0:
                shutil.chown(self.pgdata, "postgres", "postgres")
                shutil.chown(self.log, "postgres", "postgres")
                reach = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(self.pgdata)])
                if reach.returncode != 0:
                    fail(
                        f"the postgres user cannot write {self.pgdata} (a parent directory is closed to it): "
                        "choose --pgdata under a directory it can enter, e.g. /var/lib/postgresql/afx"
                    )
            self._run(
                [str(PG_BIN / "initdb"), "-D", str(self.pgdata), "-U", "afx", "--auth=trust", "-E", "UTF8"], "initdb"
            )
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.pgdata}"
        self._run(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log), "-o", opts, "-w", "start"],
            "pg_ctl start",
        )
        self.started = True
        host = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "afx"]
        exists = subprocess.run(
            as_pg_user(
                [
                    str(PG_BIN / "psql"),
                    *host,
                    "-d",
                    "postgres",
                    "-tAc",
                    "SELECT 1 FROM pg_database WHERE datname='mlflow'",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if exists.stdout.strip() != "1":
            self._run([str(PG_BIN / "createdb"), *host, "mlflow"], "createdb mlflow")
        return f"postgresql+{dialect}://afx@127.0.0.1:{self.port}/mlflow"

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"]),
                capture_output=True,
            )
            self.started = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start a shared MLflow tracking server for afx.")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite", help="backend store")
    parser.add_argument(
        "--root", type=Path, default=Path("mlflow-server"), help="where the store, artifacts and logs live"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--pg-port", type=int, default=5433, help="PostgreSQL port (postgres backend)")
    parser.add_argument("--pgdata", type=Path, help="PostgreSQL data directory (default: <root>/pgdata)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the server to answer")
    args = parser.parse_args(argv)

    probe = "127.0.0.1" if args.host in ("0.0.0.0", "localhost") else "::1" if args.host == "::" else args.host
    if port_in_use(probe, args.port):
        fail(f"port {args.port} on {args.host} is already in use (another server?): choose --port")
    if args.backend == "postgres" and port_in_use("127.0.0.1", args.pg_port):
        fail(f"PostgreSQL port {args.pg_port} on 127.0.0.1 is already in use: choose --pg-port")
    root: Path = args.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    if args.host not in LOOPBACK:
        print(
            f"mlflow_server: warning: binding {args.host}: the server has no authentication; anyone who can reach "
            "this port can read and change runs",
            file=sys.stderr,
        )
    postgres = None
    if args.backend == "postgres":
        postgres = Postgres(args.pgdata or root / "pgdata", args.pg_port, root / "postgres.log")
        store = postgres.start()
    else:
        store = f"sqlite:///{root / 'mlflow.db'}"
    artifacts = root / "artifacts"
    artifacts.mkdir(exist_ok=True)
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--host", args.host, "--port", str(args.port), "--workers", str(args.workers),
        "--backend-store-uri", store, "--artifacts-destination", str(artifacts),
    ]  # fmt: skip
    log_path = root / "mlflow-server.log"
    server = None
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        with log_path.open("ab") as log:
            server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            display = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
            url = f"http://{display}:{args.port}"
            if not wait_http(f"{url}/health", args.timeout, server):
                tail = log_path.read_text(errors="replace")[-2000:]
                stop()
                fail(f"mlflow server did not answer on {url} within {args.timeout:.0f} s; its log ends:\n{tail}")
            print(f"mlflow_server: MLflow {args.backend} store {store}, artifacts {artifacts}, log {log_path}")
            print(f"mlflow_server: UI and API at {url}; Ctrl-C stops it. In the shell that runs afx:")
            print(f"export MLFLOW_TRACKING_URI={url}", flush=True)
            while server.poll() is None:
                time.sleep(0.5)
            if not stopping:
                fail(f"mlflow server exited with code {server.returncode}; see {log_path}")
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        if postgres is not None:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
