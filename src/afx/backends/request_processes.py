"""Messages API requests sent from worker processes (`model.request_processes` > 1).

Each worker process holds its own anthropic SDK client and ceil(max_concurrency / request_processes) threads,
so the SDK's Python work per call (request building, httpx, JSON: ~0.8 ms alone, ~1.1 ms among 64 threads)
runs under several GILs instead of the job's one. The job process keeps everything else (cache, retries,
accounting) and gets back the response body, or what decides how an error is treated (ApiFailure).

A worker is `python -m afx.backends.request_processes FD`, started fresh (like multiprocessing's spawn, without
re-running the job's main module in it) and in its own session, so Ctrl-C in a terminal reaches the job only;
the job kills its workers when it ends (`release()`) or exits. Over one socket pair (multiprocessing Connection
framing, pickled tuples) the job sends the SDK client options first (the API key is in them: never in argv or a
log), then `(call id, params, extra_body)`; the worker answers `(READY, OK, None)` once its client is made, then
`(call id, OK, response body bytes)`, `(call id, FAILED, ApiFailure)` for an SDK error, or
`(call id, RAISED, exception)` for anything else. A worker exits as soon as its socket closes, so a job killed
with SIGKILL leaves no worker behind.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import pickle
import socket
import subprocess
import sys
import threading
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from afx.backends.anthropic_api import QUIET_LOGGERS
from afx.backends.anthropic_errors import ApiFailure, describe_failure
from afx.errors import AfxError
from afx.sampling import TransientError

log = logging.getLogger(__name__)
OK, FAILED, RAISED, GONE = "ok", "failed", "raised", "gone"
READY = -1  # the call id of a worker's first message: its SDK is loaded
WORKER_MODULE = "afx.backends.request_processes"


class ProcessesStopped(AfxError):
    """A call that was waiting when the job stopped its request processes (the job is ending: not retried)."""


class RemoteFailure(Exception):  # noqa: N818 - carries an SDK error's description, not an error of its own
    """An SDK error in a request process; the backend turns `failure` into TransientError or AfxError."""

    def __init__(self, failure: ApiFailure) -> None:
        super().__init__(failure.kind)
        self.failure = failure


# -- the worker process ------------------------------------------------------------------------------------------
def _picklable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def serve(conn: Connection) -> None:
    """A worker's main: make the SDK client, then serve requests on `threads` threads until the socket closes."""
    client_options, threads = pickle.loads(conn.recv_bytes())
    import anthropic

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    client: Any = None
    startup_error: BaseException | None = None
    try:
        client = anthropic.Anthropic(**client_options)
    except Exception as exc:  # noqa: BLE001 - answered to every call, as the in-process client would raise it
        startup_error = _picklable(exc)
    conn.send_bytes(pickle.dumps((READY, OK, None)))
    recv_lock, send_lock = threading.Lock(), threading.Lock()

    def answer(call_id: int, params: dict[str, Any], extra: dict[str, Any] | None) -> bytes:
        try:
            if startup_error is not None:
                raise startup_error
            raw = client.messages.with_raw_response.create(**params, extra_body=extra)
            reply: tuple[int, str, Any] = (call_id, OK, raw.http_response.content)
        except Exception as exc:  # noqa: BLE001 - every outcome goes back to the job
            failure = describe_failure(exc, anthropic)
            reply = (call_id, FAILED, failure) if failure is not None else (call_id, RAISED, _picklable(exc))
        return pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)

    def loop() -> None:
        """Leader/followers: one thread at a time waits on the socket, then serves what it read."""
        while True:
            with recv_lock:
                try:
                    data = conn.recv_bytes()
                except (EOFError, OSError):  # the job closed the pipe, or is gone
                    os._exit(0)  # calls still in flight are abandoned: the job has stopped waiting for them
            reply = answer(*pickle.loads(data))
            with send_lock:
                try:
                    conn.send_bytes(reply)
                except OSError:  # the job is gone
                    os._exit(0)

    for i in range(threads):
        threading.Thread(target=loop, name=f"afx-request-{i}", daemon=True).start()
    threading.Event().wait()  # the threads end the process


# -- the job side ------------------------------------------------------------------------------------------------
class _Call:
    """One request in flight: its outcome, and a lock held until the outcome is in."""

    __slots__ = ("done", "payload", "status")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.status, self.payload = GONE, None

    def finish(self, status: str, payload: Any) -> None:
        self.status, self.payload = status, payload
        self.done.release()


class _Worker:
    """One request process: its socket, its calls in flight and the thread that reads its answers."""

    def __init__(self, index: int, client_options: dict[str, Any], threads: int) -> None:
        ours, theirs = socket.socketpair()
        src = str(Path(__file__).resolve().parents[2])  # the directory afx is imported from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (src, os.environ.get("PYTHONPATH"))))}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # out of the terminal's process group: Ctrl-C is the job's to handle
            )
        finally:
            theirs.close()  # only the worker holds its end: its exit (or ours) closes the socket
        self.index = index
        self.conn = Connection(ours.detach())
        self.conn.send_bytes(pickle.dumps((client_options, threads), pickle.HIGHEST_PROTOCOL))
        self.calls: dict[int, _Call] = {}
        self.lock = threading.Lock()  # guards calls and alive
        self.send_lock = threading.Lock()  # one message at a time on the socket
        self.alive = True
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, name=f"afx-requests-{index}-reader", daemon=True)
        self.reader.start()

    def submit(self, call_id: int, data: bytes) -> _Call:
        call = _Call()
        with self.lock:
            if not self.alive:
                raise TransientError("connection", "request process exited")
            self.calls[call_id] = call
        try:
            with self.send_lock:
                self.conn.send_bytes(data)
        except OSError:
            self.forget(call_id)
            raise TransientError("connection", "request process exited") from None
        return call

    def forget(self, call_id: int) -> None:
        with self.lock:
            self.calls.pop(call_id, None)

    def _read(self) -> None:
        while True:
            try:
                call_id, status, payload = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                break
            if call_id == READY:
                self.ready.set()
                continue
            with self.lock:
                call = self.calls.pop(call_id, None)
            if call is not None:
                call.finish(status, payload)
        with self.lock:
            self.alive = False
            orphans, self.calls = self.calls, {}
        for call in orphans.values():
            call.finish(GONE, None)

    def stop(self) -> None:
        """Kill the worker (it holds nothing worth a clean exit: calls in flight are abandoned) and reap it."""
        self.process.kill()
        self.process.wait()
        self.reader.join(timeout=2)
        self.conn.close()


class RequestProcesses:
    """`count` request processes with `threads` SDK calls each at most; `create` sends one Messages API request
    through the least busy one and returns the response body (bytes) or raises RemoteFailure / the exception."""

    def __init__(self, count: int, client_options: dict[str, Any], threads: int, wait_s: float) -> None:
        self.count, self.threads, self.wait_s = count, max(1, threads), wait_s
        self._options = client_options
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = False
        _OPEN.add(self)

    @property
    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self._workers]

    def _started(self) -> list[_Worker]:
        """The workers, started on first use and replaced if one died (call with `_lock` held)."""
        if self._closed:
            raise ProcessesStopped("the request processes were stopped: the job is ending")
        if not self._workers:
            self._workers = [self._start(i) for i in range(self.count)]
            log.info("started %d request processes (%d calls each at most)", self.count, self.threads)
        for i, worker in enumerate(self._workers):
            if not worker.alive:
                log.warning("request process %d exited (code %s); starting another", i, worker.process.poll())
                worker.stop()
                self._workers[i] = self._start(i)
        return self._workers

    def _pick(self) -> _Worker:
        """The worker with the fewest calls in flight among those that have loaded the SDK (or among all)."""
        with self._lock:
            workers = self._started()
            ready = [worker for worker in workers if worker.ready.is_set()] or workers
            return min(ready, key=lambda worker: len(worker.calls))

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        """Start the workers if need be and wait until each has loaded the SDK (benchmarks: time calls only)."""
        with self._lock:
            workers = list(self._started())
        return all(worker.ready.wait(timeout_s) for worker in workers)

    def _start(self, index: int) -> _Worker:
        return _Worker(index, self._options, self.threads)

    def create(self, params: dict[str, Any], extra_body: dict[str, Any] | None) -> bytes:
        call_id = next(self._ids)
        data = pickle.dumps((call_id, params, extra_body), pickle.HIGHEST_PROTOCOL)
        worker = self._pick()
        call = worker.submit(call_id, data)
        if not call.done.acquire(timeout=self.wait_s):
            worker.forget(call_id)
            raise TransientError("timeout", f"no answer from request process within {self.wait_s:g}s")
        if call.status == OK:
            return call.payload
        if call.status == FAILED:
            raise RemoteFailure(call.payload)
        if call.status == RAISED:
            raise call.payload
        if self._closed:
            raise ProcessesStopped("the request processes were stopped: the job is ending")
        raise TransientError("connection", "request process exited before it answered")

    def close(self) -> None:
        """Stop every worker (idempotent); calls still waiting get ProcessesStopped."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()
        _OPEN.discard(self)


_OPEN: weakref.WeakSet[RequestProcesses] = weakref.WeakSet()


@atexit.register
def _close_open() -> None:
    for processes in list(_OPEN):
        processes.close()


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
