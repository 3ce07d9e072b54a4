"""Write shards: parallel processes write to their own files, folded into the main cache when each closes; the
shard of a killed process is folded in by the next open, and the shard of a live one is left alone. (Several
processes writing through shards at once: tests/test_parallel.py.)"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

from afx.backends.base import Generation
from afx.cache import ResponseCache, shard_dir
from helpers import run_afx


def _rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT key, text FROM responses").fetchall()


def _shard_files(path: Path) -> list[Path]:
    return sorted(shard_dir(path).glob("*")) if shard_dir(path).exists() else []


def test_puts_go_to_the_shard_until_close_folds_them_into_the_main_file(tmp_path):
    path = tmp_path / "responses.sqlite"
    cache = ResponseCache(path, shard=True)
    assert _shard_files(path) == [], "no shard before the first put (a pure replay writes nothing)"
    cache.put("a", "test", Generation("first"))
    cache.put("a", "test", Generation("second"))  # first writer wins, in the shard as in the main file
    assert cache.get("a").text == "first" and len(cache) == 1
    assert _rows(path) == [], "the main file is untouched while the job writes"
    assert {p.suffix for p in _shard_files(path)} >= {".sqlite", ".lock"}
    cache.close()
    assert _rows(path) == [("a", "first")]
    assert _shard_files(path) == [], "a folded shard is deleted with its lock file"
    cache.close()  # a second close does nothing


def test_an_entry_already_in_the_main_file_is_kept_when_a_shard_is_folded(tmp_path):
    path = tmp_path / "responses.sqlite"
    direct = ResponseCache(path)
    sharded = ResponseCache(path, shard=True)
    sharded.put("k", "test", Generation("from the shard"))
    direct.put("k", "test", Generation("from the main file"))
    assert sharded.get("k").text == "from the main file", "lookups read the main file first"
    sharded.close()
    direct.close()
    assert _rows(path) == [("k", "from the main file")]


def _write_then_die(path: str, n: int, ready: Any, release: Any, die: bool) -> None:
    cache = ResponseCache(path, shard=True)
    for j in range(n):
        cache.put(f"k{j}", "test", Generation(f"text {j}"))
    ready.set()
    release.wait(60)
    if die:
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no atexit: the shard is left behind
    cache.close()


def test_a_live_shard_is_left_alone_and_a_killed_ones_is_folded_in_by_the_next_open(tmp_path):
    ctx = mp.get_context("spawn")
    path = tmp_path / "responses.sqlite"
    live_ready, live_release = ctx.Event(), ctx.Event()
    dead_ready, dead_release = ctx.Event(), ctx.Event()
    live = ctx.Process(target=_write_then_die, args=(str(path), 5, live_ready, live_release, False))
    dead = ctx.Process(target=_write_then_die, args=(str(path), 40, dead_ready, dead_release, True))
    live.start()
    dead.start()
    assert live_ready.wait(60) and dead_ready.wait(60)
    dead_release.set()
    dead.join(60)
    assert dead.exitcode == -signal.SIGKILL
    assert len([p for p in _shard_files(path) if p.suffix == ".sqlite"]) == 2
    reopened = ResponseCache(path)  # folds the orphan, not the live process's shard
    assert len(reopened) == 40 and reopened.get("k39").text == "text 39"
    assert len([p for p in _shard_files(path) if p.suffix == ".sqlite"]) == 1
    live_release.set()
    live.join(60)
    assert live.exitcode == 0
    assert len(reopened) == 40, "k0..k4 of the live writer are the same keys: first entry kept"
    assert _shard_files(path) == []
    reopened.close()


def test_the_basic_launcher_writes_the_main_file_directly(tmp_path):
    done = run_afx("model=simulated", "data.limit=2", "progress=false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    path = tmp_path / "outputs" / "cache" / "responses.sqlite"
    assert len(_rows(path)) > 0 and not shard_dir(path).exists(), "cache.shards=auto: no shards for one job at a time"


def test_a_bad_shards_value_is_one_clear_line(tmp_path):
    done = run_afx("model=simulated", "data.limit=1", "progress=false", "cache.shards=sometimes", cwd=tmp_path)
    assert done.returncode != 0
    assert "cache.shards must be true, false or auto (got 'sometimes')" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_corrupt_orphan_shard_is_reported_and_left_not_fatal(tmp_path, caplog):
    path = tmp_path / "responses.sqlite"
    ResponseCache(path).close()
    shard_dir(path).mkdir()
    bad = shard_dir(path) / "gone-1-x.sqlite"
    bad.write_bytes(b"not a database " * 300)
    Path(f"{bad}.lock").touch()
    cache = ResponseCache(path)  # opens; the bad shard is named in a warning and left for the user
    assert "cannot be folded in" in caplog.text and str(bad) in caplog.text
    assert bad.exists() and len(cache) == 0
    cache.close()
