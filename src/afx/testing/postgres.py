"""A private PostgreSQL cluster on a temp dir and a free loopback port, for tests and benchmarks.

`initdb` (trust authentication, superuser `afx`) and `pg_ctl start` on `127.0.0.1:<free port>`; as root both run
as the `postgres` user (PostgreSQL refuses to run as root). `missing()` says why it cannot start here, or None.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

MIN_MAJOR = 15
SEARCH = ("/usr/local/bin", "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


def pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: $AFX_PG_BIN, else PATH, else the usual Debian folders."""
    candidates = [os.environ["AFX_PG_BIN"]] if os.environ.get("AFX_PG_BIN") else []
    if found := shutil.which("initdb"):
        candidates.append(str(Path(found).parent))
    candidates += SEARCH
    for folder in map(Path, candidates):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def missing() -> str | None:
    """Why a local cluster cannot be started here (binaries absent, too old, root without runuser), or None."""
    folder = pg_bin()
    if folder is None:
        return "PostgreSQL is not installed (no initdb/pg_ctl on PATH, $AFX_PG_BIN or /usr/lib/postgresql/*/bin)"
    version = subprocess.run([str(folder / "initdb"), "--version"], capture_output=True, text=True).stdout
    major = re.search(r"(\d+)", version)
    if major is None or int(major.group(1)) < MIN_MAJOR:
        return f"PostgreSQL {MIN_MAJOR}+ needed, found: {version.strip() or 'unknown version'}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser (PostgreSQL must run as an unprivileged user)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    """Start with `start()`, make databases with `database(name)` (returns its SQLAlchemy URL), `stop()` at the end."""

    def __init__(self) -> None:
        reason = missing()
        if reason is not None:
            raise RuntimeError(reason)
        self.bin = pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="afx-pg-"))
        self.root.chmod(0o755)  # the postgres user must enter it when we run as root
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.running = False

    def _as_owner(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def _run(self, cmd: list[str]) -> None:
        done = subprocess.run(self._as_owner(cmd), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {(done.stderr or done.stdout).strip()[-1500:]}")

    def start(self) -> LocalPostgres:
        self.data.mkdir()
        self.log.touch()
        if os.geteuid() == 0:
            for path in (self.root, self.data, self.log):
                shutil.chown(path, "postgres", "postgres")
        assert self.bin is not None
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "afx", "--auth=trust", "-E", "UTF8", "-N"])
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200"
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "start"])
        self.running = True
        return self

    def url(self, database: str = "postgres", driver: str = "psycopg") -> str:
        return f"postgresql+{driver}://afx@127.0.0.1:{self.port}/{database}"

    def database(self, name: str) -> str:
        """Create an empty database `name`; its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=afx dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self) -> None:
        """Stop the server (dropping every connection) and start it again on the same port."""
        assert self.bin is not None
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200"
        ctl = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w"]
        self._run([*ctl, "-o", opts, "restart"])

    def stop(self) -> None:
        if self.running:
            assert self.bin is not None
            subprocess.run(
                self._as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
            )
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
