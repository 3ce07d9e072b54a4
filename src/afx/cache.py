"""The response cache: every model response is stored here before it is used.

Keyed by a hash of the whole request (model identity, parameters, system prompt, messages,
prefill, sample key). SQLite in WAL mode, safe for several processes on one machine.

Write shards (`shard=True`, used when jobs run in parallel processes): new responses go to a file of this
process's own, `<cache>.shards/<host>-<pid>-<token>.sqlite`, so parallel jobs never wait for each other's
write lock; lookups read the main file, then the shard. Closing folds the shard into the main file in one
transaction and deletes it. A shard whose process died (SIGKILL) is an orphan: the next open of the cache,
by any afx process, folds it in. Each shard has a `.lock` file its owner holds (flock) while it lives.

`open_store` picks the store from the config: `cache.url=postgresql+psycopg://...` is one cache shared by a whole
cluster (afx.cache_pg: the same COLUMNS and keys, INSERT ... ON CONFLICT DO NOTHING), otherwise this SQLite file.

Opening runs `PRAGMA quick_check` (about 0.15 s for a 220 MB file in the page cache): a file with damaged pages
stops the job with one line that names `afx cache-merge NEW DAMAGED`, which copies the readable rows into a new
file (afx.cache_tools); a page found damaged later, mid-run, gives the same line.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import hashlib
import json
import logging
import os
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from afx.backends.base import Generation, GenerationRequest
from afx.errors import AfxError

log = logging.getLogger(__name__)

# The table, shared by every store (SQLite here, PostgreSQL in afx.cache_pg): column name, SQLite type.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "TEXT"),
    ("backend", "TEXT"),
    ("text", "TEXT"),
    ("finish_reason", "TEXT"),
    ("prompt_tokens", "INTEGER"),
    ("completion_tokens", "INTEGER"),
    ("created", "REAL"),
)


def row_values(key: str, backend: str, generation: Generation) -> tuple[Any, ...]:
    """One stored response in COLUMNS order (SQLite and PostgreSQL stores), stamped now."""
    return (
        key,
        backend,
        generation.text,
        generation.finish_reason,
        generation.prompt_tokens,
        generation.completion_tokens,
        time.time(),
    )


SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses ("
    + ", ".join(f"{name} {kind} {'PRIMARY KEY' if name == 'key' else 'NOT NULL'}" for name, kind in COLUMNS)
    + ")"
)


class ResponseStore(Protocol):
    """What jobs, judges and tools use of a response cache (SQLite: ResponseCache; PostgreSQL: PgResponseCache)."""

    where: str  # the file or the URL (password hidden), for messages

    def get(self, key: str) -> Generation | None: ...
    def put(self, key: str, backend: str, generation: Generation) -> None: ...
    def __len__(self) -> int: ...
    def fold(self) -> int: ...
    def close(self) -> None: ...


def sqlite_url_path(url: str) -> Path:
    """`sqlite:///rel.sqlite` -> rel.sqlite, `sqlite:////abs/c.sqlite` -> /abs/c.sqlite (SQLAlchemy's form)."""
    return Path(url.removeprefix("sqlite:///"))


def open_store(
    path: str | Path, url: str | None = None, max_mb: float | None = None, shard: bool = False
) -> ResponseStore:
    """The response cache: `cache.url` when set (PostgreSQL, or a sqlite:/// file), else the SQLite file at `path`."""
    if not url:
        return ResponseCache(path, max_mb=max_mb, shard=shard)
    url = str(url)
    if url.startswith("sqlite:///"):
        return ResponseCache(sqlite_url_path(url), max_mb=max_mb, shard=shard)
    from afx.cache_pg import PgResponseCache, is_postgres, redacted

    if not is_postgres(url):
        raise AfxError(f"cache.url {redacted(url)}: use postgresql+psycopg://user@host:port/db or sqlite:///path")
    if max_mb:
        raise AfxError("cache.max_mb caps the SQLite file only: unset it with cache.url=postgresql... (or cap the db)")
    return PgResponseCache(url)


def _writable(folder: Path) -> bool:
    """Whether a file can be created in `folder` (a probe: permission bits say nothing for root or read-only mounts)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    """A full disk (or a full capped cache) is one clear error; everything stored so far stays."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "full" in str(exc):
            raise AfxError(
                f"cannot write the response cache {path}: {exc} (disk full, or cache.max_mb reached); free "
                "space and rerun the same command: every response stored so far is kept"
            ) from exc
        raise


def request_key(identity: dict[str, Any], request: GenerationRequest) -> str:
    """sha256 over everything that determines the response: the UTF-8 of
    json.dumps({model, params, system, messages, prefill, sample_key}, sort_keys=True, ensure_ascii=False).

    "system" sorts last, so the blob is the other keys' JSON, then `, "system": <its JSON>}`; the system prompt's
    JSON bytes (the bulk of the blob, the same for every call of a job) are memoised, the bytes hashed are not
    changed.
    """
    if not isinstance(request.system, str):
        return _request_key_plain(identity, request)
    head = {
        "model": identity,
        "params": dict(request.params),
        "messages": [list(m) for m in request.messages],
        "prefill": request.prefill,
        "sample_key": request.sample_key,
    }
    digest = hashlib.sha256(json.dumps(head, sort_keys=True, ensure_ascii=False, default=str)[:-1].encode("utf-8"))
    digest.update(_system_tail(request.system))
    return digest.hexdigest()


@functools.lru_cache(maxsize=32)
def _system_tail(system: str) -> bytes:
    return (', "system": ' + json.dumps(system, ensure_ascii=False) + "}").encode("utf-8")


def _request_key_plain(identity: dict[str, Any], request: GenerationRequest) -> str:
    payload = {
        "model": identity,
        "params": dict(request.params),
        "system": request.system,
        "messages": [list(m) for m in request.messages],
        "prefill": request.prefill,
        "sample_key": request.sample_key,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def damaged_message(path: Path, detail: str) -> str:
    """The one line for a cache whose pages are damaged, naming the salvage command."""
    return (
        f"response cache {path} is damaged (PRAGMA quick_check: {detail}); salvage its readable rows with: "
        f"afx cache-merge NEW {path} , then rerun with cache.path=NEW"
    )


def quick_check(conn: sqlite3.Connection, schema: str = "main") -> str | None:
    """None if SQLite's quick_check finds the file sound, else its first finding (one line)."""
    try:
        rows = conn.execute(f"PRAGMA {schema}.quick_check(1)").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    first = str(rows[0][0]) if rows else "no answer"
    return None if first == "ok" else " ".join(first.split())


@contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    """A page found damaged mid-run (after the check on open) is the same one line, not a traceback."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
            raise
        if "malformed" in str(exc) or "not a database" in str(exc) or "corrupt" in str(exc):
            raise AfxError(damaged_message(path, str(exc))) from exc
        raise


OPEN_WAIT_S = 60.0  # how long opening waits for other processes that hold the file's locks
SHARD_GLOB = "*.sqlite"


def shard_dir(path: Path) -> Path:
    """Where the write shards of the cache at `path` live."""
    return path.with_name(path.name + ".shards")


def shard_files(path: Path) -> list[Path]:
    """The write shards (live or orphaned) of the cache at `path`, sorted."""
    directory = shard_dir(path)
    return sorted(directory.glob(SHARD_GLOB)) if directory.is_dir() else []


def _connect(path: Path, max_mb: float | None = None) -> sqlite3.Connection:
    """A connection with WAL, the pragmas and the table set up (the set-up is idempotent). Processes that open a
    new file at the same moment race to switch it to WAL; SQLite can answer that race "database is locked" at
    once, without waiting for the busy timeout, so the whole set-up is retried until OPEN_WAIT_S has passed."""
    conn = sqlite3.connect(path, timeout=OPEN_WAIT_S, check_same_thread=False, isolation_level=None)
    deadline = time.monotonic() + OPEN_WAIT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if max_mb:
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count={max(1, int(max_mb * 2**20 / page))}")
            conn.execute(SCHEMA)
            conn.execute("SELECT COUNT(*) FROM responses LIMIT 1").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.02)


def _remove_shard(shard: Path) -> None:
    for extra in ("", "-wal", "-shm", ".lock"):
        Path(f"{shard}{extra}").unlink(missing_ok=True)


def fold_shard(conn: sqlite3.Connection, shard: Path) -> int:
    """Add the shard's entries that the main file lacks (first entry wins), in one transaction; the count added."""
    conn.execute("ATTACH DATABASE ? AS shard", (str(shard),))
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            added = conn.execute("INSERT OR IGNORE INTO main.responses SELECT * FROM shard.responses").rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("DETACH DATABASE shard")
    return added


def fold_orphan_shards(conn: sqlite3.Connection, path: Path) -> int:
    """Fold in the shards of processes that are gone (their lock is free); the count of entries added."""
    added = 0
    for shard in shard_files(path):
        try:
            fd = os.open(f"{shard}.lock", os.O_RDWR)
        except FileNotFoundError:
            continue  # just folded by another process
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # its process is alive and writing
        try:
            if shard.exists():  # checked under the lock: another process may have folded it meanwhile
                added += fold_shard(conn, shard)
                _remove_shard(shard)
        except sqlite3.DatabaseError as exc:
            log.warning("cache shard %s cannot be folded in (%s): its responses are not used; move it away", shard, exc)
        finally:
            os.close(fd)
    return added


class ResponseCache:
    """A SQLite table of responses by request key; with `shard=True` this process writes to its own shard."""

    def __init__(self, path: str | Path, max_mb: float | None = None, shard: bool = False) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self.shard = shard
        self._lock = threading.Lock()
        self._shard_path: Path | None = None
        self._shard_conn: sqlite3.Connection | None = None
        self._shard_fd: int | None = None
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self.path, max_mb)
            if (problem := quick_check(self._conn)) is not None:
                self._conn.close()
                raise AfxError(damaged_message(self.path, problem))
            fold_orphan_shards(self._conn, self.path)
        except sqlite3.DatabaseError as exc:
            if "malformed" in str(exc):
                raise AfxError(damaged_message(self.path, str(exc))) from exc
            folder = self.path.parent
            if "readonly" in str(exc).replace(" ", "") or not _writable(folder):
                raise AfxError(
                    f"response cache {self.path} cannot be written ({exc}): folder {folder} is read-only; fix the "
                    "permissions, set cache.path, or cache.enabled=false"
                ) from exc
            raise AfxError(
                f"response cache {self.path} cannot be opened ({exc}): if it is corrupt, move it away "
                "(or set cache.path) and rerun; responses in it are then sampled again"
            ) from exc
        except OSError as exc:
            raise AfxError(f"response cache {self.path} cannot be created: {exc}") from exc

    def _writer(self) -> sqlite3.Connection:
        """Where puts go: the main file, or this process's shard (made on the first put, lock file first)."""
        if not self.shard:
            return self._conn
        if self._shard_conn is None:
            directory = shard_dir(self.path)
            directory.mkdir(parents=True, exist_ok=True)
            shard = directory / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.sqlite"
            fd = os.open(f"{shard}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until the shard is folded in: it is not an orphan
            self._shard_fd, self._shard_path = fd, shard
            self._shard_conn = _connect(shard)
            atexit.register(self.close)  # a process that ends without closing still folds its shard in
        return self._shard_conn

    def get(self, key: str) -> Generation | None:
        query = "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM responses WHERE key=?"
        with self._lock, _read_errors(self.path):
            row = self._conn.execute(query, (key,)).fetchone()
            if row is None and self._shard_conn is not None:
                row = self._shard_conn.execute(query, (key,)).fetchone()
        return None if row is None else Generation(*row)

    def put(self, key: str, backend: str, generation: Generation) -> None:
        """Store a response; an existing entry (another writer got there first) is kept."""
        with self._lock, _write_errors(self.path), _read_errors(self.path):
            self._writer().execute(
                "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)", row_values(key, backend, generation)
            )

    def __len__(self) -> int:
        """Entries stored, in the main file and (not yet folded in) this process's shard."""
        with self._lock:
            main = self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            if self._shard_conn is None:
                return main
            keys = [row[0] for row in self._shard_conn.execute("SELECT key FROM responses")]
            present = sum(
                self._conn.execute("SELECT 1 FROM responses WHERE key=?", (k,)).fetchone() is not None for k in keys
            )
            return main + len(keys) - present

    def fold(self) -> int:
        """Fold this process's shard into the main file now and delete it; the count of entries added."""
        with self._lock, _write_errors(self.path):
            if self._shard_conn is None or self._shard_path is None:
                return 0
            self._shard_conn.close()
            self._shard_conn = None
            added = fold_shard(self._conn, self._shard_path)
            _remove_shard(self._shard_path)
            if self._shard_fd is not None:
                os.close(self._shard_fd)
            self._shard_fd = self._shard_path = None
            return added

    def close(self) -> None:
        """Fold the shard in (if any) and close; calling it again does nothing."""
        if self._closed:
            return
        self.fold()
        atexit.unregister(self.close)
        with self._lock:
            self._conn.close()
            self._closed = True
