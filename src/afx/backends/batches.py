"""Message Batches mode (`model.batch=true`): a round's uncached requests go out as batches; results land in
the response cache, and the job replays its turn loop from the cache (job.py runs rounds until done).

Resumable: every submitted request is recorded (request key -> batch id) in `<cache>.batches.sqlite` right
after the batch is created, so a restarted job polls the batches it already paid for instead of sending the
requests again. Errored, expired or canceled results are resubmitted in the next round, up to the job's
`max_attempts` per request; after that the transcript is an error (counted, never silently dropped).
The only window that can lose a batch is between the create call returning and the id being written.

Every batch API call runs inside the job's retry policy, the results download included: the whole JSONL body is
read inside the retried call, so a 5xx or a connection cut off mid-download is retried (counted under
calls/retry/<reason>, bounded by max_attempts), never fatal. Results are matched to requests by custom_id (the
API returns them in any order). The requests carry the 1-hour cache TTL (model.batch_cache_ttl, anthropic_cache.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from afx.errors import AfxError
from afx.sampling import CachedBackend, Interrupted, TransientError

if TYPE_CHECKING:
    from afx.backends.anthropic_api import AnthropicBackend
    from afx.cache import ResponseCache

log = logging.getLogger(__name__)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, created REAL, n INTEGER, status TEXT)",
    "CREATE TABLE IF NOT EXISTS submitted (key TEXT PRIMARY KEY, batch_id TEXT, attempts INTEGER)",
)
RETRYABLE_RESULTS = {"errored", "expired", "canceled"}
MAX_REQUESTS = 10_000  # per batch (the API allows 100,000 or 256 MB)
MAX_BYTES = 128 << 20


class BatchRunner:
    """Submits, polls and collects Message Batches for one backend; state survives restarts."""

    def __init__(
        self,
        backend: AnthropicBackend,
        cache: ResponseCache,
        state_path: Path,
        poll_s: float = 30.0,
        progress: bool = True,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.poll_s = poll_s
        self.progress = progress
        state_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(state_path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        for statement in SCHEMA:
            self._db.execute(statement)

    def _sql(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(query, args).fetchall()

    def _call(self, cached: CachedBackend, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One batch API call with the job's retry policy (batch endpoints fail like any other)."""
        for attempt in range(cached.policy.max_attempts):
            if cached.stop.is_set():
                raise Interrupted("job stopping")
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - translated below
                err = self.backend.translate(exc)
                if not isinstance(err, TransientError):
                    raise err from exc
                retried = attempt + 1 < cached.policy.max_attempts
                cached.stats.reason(err.reason, retried)
                if not retried:
                    raise AfxError(f"Message Batches: {what} kept failing ({err})") from exc
                wait = cached.policy.delay(attempt, err.retry_after, cached._rng)
                log.warning("batch %s failed (%s); retry %d in %.2fs", what, err, attempt + 1, wait)
                if cached.stop.wait(wait):
                    raise Interrupted("job stopping") from exc
        raise AssertionError("unreachable")

    def run(self, cached: CachedBackend) -> None:
        """Get every pending request of `cached` answered (in the cache) or failed for good."""
        pending = {k: r for k, r in cached.take_pending().items() if self.cache.get(k) is None}
        if not pending:
            return
        self.backend.verify()
        open_ids: set[str] = set()
        attempts: dict[str, int] = {}
        to_submit = []
        for key in pending:
            row = self._sql(
                "SELECT s.batch_id, s.attempts, b.status FROM submitted s JOIN batches b USING (batch_id) WHERE key=?",
                (key,),
            )
            if row and row[0][2] == "submitted":
                open_ids.add(row[0][0])  # already paid for: poll it
            elif row and row[0][1] >= cached.policy.max_attempts:
                cached.failed[key] = f"no batch result after {row[0][1]} attempts"
            else:
                attempts[key] = row[0][1] if row else 0
                to_submit.append(key)
        if open_ids:
            log.info("resuming %d Message Batch(es) from %s", len(open_ids), self._db)
        for chunk in self._chunks(pending, to_submit):
            requests = [{"custom_id": key, "params": self.backend.request_params(pending[key])} for key in chunk]
            batch = self._call(cached, "create", self.backend.client.messages.batches.create, requests=requests)
            with self._lock:
                self._db.execute("BEGIN")
                self._db.execute(
                    "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, 'submitted')", (batch.id, time.time(), len(chunk))
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO submitted VALUES (?, ?, ?)",
                    [(key, batch.id, attempts[key] + 1) for key in chunk],
                )
                self._db.execute("COMMIT")
            log.info("submitted Message Batch %s with %d requests", batch.id, len(chunk))
            open_ids.add(batch.id)
        for batch_id in sorted(open_ids):
            self._wait(cached, batch_id)
            self._collect(cached, batch_id)

    def _chunks(self, pending: dict[str, Any], keys: list[str]) -> list[list[str]]:
        chunks: list[list[str]] = []
        size = 0
        for key in keys:
            length = len(json.dumps(self.backend.request_params(pending[key])))
            if not chunks or len(chunks[-1]) >= MAX_REQUESTS or size + length > MAX_BYTES:
                chunks.append([])
                size = 0
            chunks[-1].append(key)
            size += length
        return chunks

    def _wait(self, cached: CachedBackend, batch_id: str) -> None:
        """Poll until the batch has ended, with a progress bar of finished requests."""
        retrieve = self.backend.client.messages.batches.retrieve
        batch = self._call(cached, "retrieve", retrieve, batch_id)
        counts = batch.request_counts
        total = sum(getattr(counts, k) for k in ("processing", "succeeded", "errored", "canceled", "expired"))
        with tqdm(total=total, desc=f"batch {batch_id[-12:]}", unit="req", disable=not self.progress) as bar:
            while True:
                counts = batch.request_counts
                bar.n = total - counts.processing
                bar.refresh()
                if batch.processing_status == "ended":
                    return
                if cached.stop.wait(self.poll_s):
                    raise Interrupted("job stopping")
                batch = self._call(cached, "retrieve", retrieve, batch_id)

    def _results(self, batch_id: str) -> list[Any]:
        """Every result line of a batch, read to the end inside `_call`: a download cut off halfway raises the SDK's
        APIConnectionError while the lines are read, which must be retried like any failed call."""
        return list(self.backend.client.messages.batches.results(batch_id))

    def _collect(self, cached: CachedBackend, batch_id: str) -> None:
        """Results into the cache; retryable failures stay pending (or fail for good after max_attempts)."""
        results = self._call(cached, "results", self._results, batch_id)
        for item in results:
            key = item.custom_id
            row = self._sql("SELECT attempts FROM submitted WHERE key=?", (key,))
            tries = row[0][0] if row else 1
            cached.stats.attempt()
            kind = item.result.type
            if kind == "succeeded":
                generation = self.backend.parse(item.result.message)
                self.cache.put(key, self.backend.name, generation)
                cached.stats.usage(generation)
                continue
            error = getattr(getattr(item.result, "error", None), "error", None)
            etype = str(getattr(error, "type", "") or kind)
            message = str(getattr(error, "message", "") or "")
            if etype == "invalid_request_error":
                raise self.backend.fatal(400, etype, message)
            retried = tries < cached.policy.max_attempts
            cached.stats.reason(f"batch_{etype}", retried)
            if not retried:
                cached.stats.failure()
                cached.failed[key] = f"batch result {etype} after {tries} attempts: {message}".strip()
            else:
                log.warning("batch request %s: %s (%s); resubmitted next round", key[:12], etype, message)
        self._sql("UPDATE batches SET status='collected' WHERE batch_id=?", (batch_id,))
