"""The fake server's Message Batches, processed the way the API documents it.

- `expires_at` is fixed when the batch is created: 24 h later (`FakeAnthropic.batch_expiry_s`). The first
  `expire_batches` batches created instead expire when they end (after `batch_latency_s`): the first
  `batch_expire_done_share` of their requests (in processing order) have results, the rest are `expired`.
- Processing order is not submission order: the requests are shuffled (seeded by the batch id; never the
  submission order when there are two or more) and processed in waves of `batch_concurrency` at once. A wave's
  requests run concurrently and none sees another's prompt-cache write (each is committed when the wave ends), so
  a batch writes the cache once per request of its first wave, not once in all: the cache-read share under
  batches is not flattered. The waves are spread over `batch_span_s` simulated seconds (the fake's prompt-cache
  clock advances by that much per batch), so a 5-minute cache entry can expire between waves; a 1-hour one lasts.
- Results come back in processing order; match them by `custom_id`.
- Cancel (POST .../cancel) sets `cancel_initiated_at`; the batch ends at once, the requests that would have been
  processed by then (the elapsed share of `batch_latency_s`) have results, the others are `canceled`.
- `batch_error_rate`: errored results (overloaded_error), per request and attempt, at most `faults.max_consecutive`
  in a row. `batch_results_fault(batch_id, attempt) -> "500" | "drop" | None`: a results download answered with a
  500, or cut off halfway through the body (attempt counts from 0 per batch).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from afx.testing.fake_anthropic import FakeAnthropic

Line = dict[str, Any]


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def processing_order(batch_id: str, n: int) -> list[int]:
    """The order a batch's requests are processed in: shuffled by the batch id, never 0..n-1 for n >= 2."""
    order = list(range(n))
    random.Random(batch_id).shuffle(order)
    if n >= 2 and order == sorted(order):
        order.reverse()
    return order


class Batches:
    """Message Batches of one fake server (thread-safe); options are read from the fake when a batch is used."""

    def __init__(self, fake: FakeAnthropic) -> None:
        self.fake = fake
        self.items: dict[str, dict[str, Any]] = {}
        self.results_attempts: dict[str, int] = {}
        self._created = 0
        self._lock = threading.Lock()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        fake, now = self.fake, time.time()
        with self._lock:
            expire = self._created < fake.expire_batches
            self._created += 1
        ends = now + fake.batch_latency_s
        batch = {
            "id": f"msgbatch_{uuid.uuid4().hex[:24]}",
            "requests": list(body.get("requests") or []),
            "created": now,
            "ends": ends,
            "expires_at": ends if expire else now + fake.batch_expiry_s,  # fixed here, never recomputed
            "expire": expire,
            "cancel_at": None,
            "results": None,
            "lock": threading.Lock(),
        }
        with self._lock:
            self.items[batch["id"]] = batch
        return batch

    def cancel(self, batch: dict[str, Any]) -> None:
        if not self.done(batch):
            batch["cancel_at"] = time.time()

    @staticmethod
    def done(batch: dict[str, Any]) -> bool:
        return time.time() >= batch["ends"] or batch["cancel_at"] is not None

    def results_fault(self, batch_id: str) -> str | None:
        """The fault (if any) of this download of a batch's results."""
        fault_fn = self.fake.batch_results_fault
        with self._lock:
            attempt = self.results_attempts.get(batch_id, 0)
            self.results_attempts[batch_id] = attempt + 1
        return fault_fn(batch_id, attempt) if fault_fn else None

    def results(self, batch: dict[str, Any]) -> list[Line] | None:
        """The result lines in processing order (None while the batch is processing); computed once."""
        if not self.done(batch):
            return None
        with batch["lock"]:
            if batch["results"] is None:
                batch["results"] = self._process(batch)
            return batch["results"]

    def _process(self, batch: dict[str, Any]) -> list[Line]:
        fake = self.fake
        requests = batch["requests"]
        order = processing_order(batch["id"], len(requests))
        if batch["cancel_at"] is not None:
            elapsed = (batch["cancel_at"] - batch["created"]) / max(batch["ends"] - batch["created"], 1e-9)
            cutoff, unfinished = int(min(1.0, elapsed) * len(order)), "canceled"
        elif batch["expire"]:
            cutoff, unfinished = int(fake.batch_expire_done_share * len(order)), "expired"
        else:
            cutoff, unfinished = len(order), ""
        size = max(1, int(fake.batch_concurrency))
        waves = [order[i : i + size] for i in range(0, cutoff, size)]
        gap = fake.batch_span_s / max(1, len(waves))
        lines: dict[int, Line] = {}
        for number, wave in enumerate(waves):
            if number:
                fake.prompt_cache.advance(gap)
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                answered = list(pool.map(lambda i: self._answer(requests[i]), wave))
            for index, (line, entry) in zip(wave, answered, strict=True):
                lines[index] = line
                fake.prompt_cache.commit(entry)  # visible to the next wave, never within this one
        if waves:
            fake.prompt_cache.advance(gap)
        for index in order[cutoff:]:
            lines[index] = {"custom_id": requests[index]["custom_id"], "result": {"type": unfinished}}
        return [lines[i] for i in order]

    def _answer(self, item: dict[str, Any]) -> tuple[Line, Any]:
        fake = self.fake
        custom_id, params = item["custom_id"], item["params"]
        with fake._lock:
            attempt = fake._attempts[f"batch|{custom_id}"]
            fake._attempts[f"batch|{custom_id}"] += 1
        draw = random.Random(f"{fake.faults.seed}|{custom_id}|{attempt}").random()
        if draw < fake.batch_error_rate and attempt < fake.faults.max_consecutive:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "injected batch error"}}
            return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}, None
        status, payload, entry = fake._answer(params)
        if status != 200:
            return {"custom_id": custom_id, "result": {"type": "errored", "error": payload}}, None
        payload["usage"]["service_tier"] = "batch"
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": payload}}, entry

    def view(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The MessageBatch object (anthropic 2.17 types/messages/message_batch.py)."""
        done = self.done(batch)
        n = len(batch["requests"])
        counts = {"processing": 0 if done else n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if done:
            for line in self.results(batch) or []:
                counts[line["result"]["type"]] += 1
        ended = batch["cancel_at"] if batch["cancel_at"] is not None else batch["ends"]
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": "ended" if done else "in_progress",
            "request_counts": counts,
            "created_at": _iso(batch["created"]),
            "expires_at": _iso(batch["expires_at"]),
            "ended_at": _iso(ended) if done else None,
            "cancel_initiated_at": _iso(batch["cancel_at"]),
            "archived_at": None,
            "results_url": f"{self.fake.url}/v1/messages/batches/{batch['id']}/results" if done else None,
        }
