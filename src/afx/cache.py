"""The response cache: every model response is stored here before it is used.

Keyed by a hash of the whole request (model identity, parameters, system prompt, messages,
prefill, sample key). SQLite in WAL mode, safe for several processes on one machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from afx.backends.base import Generation, GenerationRequest
from afx.errors import AfxError

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


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


OPEN_WAIT_S = 60.0  # how long opening waits for other processes that hold the file's locks


class ResponseCache:
    """A SQLite table of responses by request key."""

    def __init__(self, path: str | Path, max_mb: float | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=OPEN_WAIT_S, check_same_thread=False, isolation_level=None)
            self._set_up(max_mb)
        except sqlite3.DatabaseError as exc:
            raise AfxError(
                f"response cache {self.path} cannot be opened ({exc}): if it is corrupt, move it away "
                "(or set cache.path) and rerun; responses in it are then sampled again"
            ) from exc
        except OSError as exc:
            raise AfxError(f"response cache {self.path} cannot be created: {exc}") from exc

    def _set_up(self, max_mb: float | None) -> None:
        """WAL mode, pragmas and the table (all idempotent). Processes that open a new file at the same moment
        race to switch it to WAL; SQLite can answer that race "database is locked" at once, without waiting
        for the busy timeout, so the whole set-up is retried until OPEN_WAIT_S has passed."""
        deadline = time.monotonic() + OPEN_WAIT_S
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                if max_mb:
                    page = self._conn.execute("PRAGMA page_size").fetchone()[0]
                    self._conn.execute(f"PRAGMA max_page_count={max(1, int(max_mb * 2**20 / page))}")
                self._conn.execute(SCHEMA)
                self._conn.execute("SELECT COUNT(*) FROM responses LIMIT 1").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def get(self, key: str) -> Generation | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM responses WHERE key=?",
                (key,),
            ).fetchone()
        return None if row is None else Generation(*row)

    def put(self, key: str, backend: str, generation: Generation) -> None:
        """Store a response; an existing entry (another writer got there first) is kept."""
        with self._lock, _write_errors(self.path):
            self._conn.execute(
                "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    backend,
                    generation.text,
                    generation.finish_reason,
                    generation.prompt_tokens,
                    generation.completion_tokens,
                    time.time(),
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
