"""`afx cache-merge`: the caches of several machines fold into one; first entry wins; a rerun is a pure replay."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from afx.backends.base import Generation
from afx.cache import ResponseCache
from afx.cache_tools import merge_caches


def _cache(path: Path, entries: dict[str, str]) -> ResponseCache:
    cache = ResponseCache(path)
    for key, text in entries.items():
        cache.put(key, "simulated", Generation(text))
    return cache


def _rows(path: Path) -> dict[str, str]:
    return dict(sqlite3.connect(path).execute("SELECT key, text FROM responses").fetchall())


def test_merge_adds_missing_entries_keeps_the_first_and_counts_conflicts(tmp_path):
    a = {f"k{i}": f"a{i}" for i in range(10)}
    b = {f"k{i}": (f"a{i}" if i < 8 else f"b{i}") for i in range(5, 15)}
    _cache(tmp_path / "a.sqlite", a).close()
    live_b = _cache(tmp_path / "b.sqlite", b)  # still open: its last writes may sit in the WAL file
    first, second = merge_caches(tmp_path / "merged.sqlite", [tmp_path / "a.sqlite", tmp_path / "b.sqlite"])
    assert (first.rows, first.added, first.same, first.conflicts) == (10, 10, 0, 0)
    assert (second.rows, second.added, second.same, second.conflicts) == (10, 5, 3, 2)
    merged = _rows(tmp_path / "merged.sqlite")
    assert len(merged) == 15 and merged["k9"] == "a9" and merged["k14"] == "b14"
    again = merge_caches(tmp_path / "merged.sqlite", [tmp_path / "a.sqlite", tmp_path / "b.sqlite"])
    assert [r.added for r in again] == [0, 0] and len(_rows(tmp_path / "merged.sqlite")) == 15
    live_b.close()


def test_cli_reports_and_rejects_a_file_that_is_not_a_cache(afx_cli, tmp_path):
    _cache(tmp_path / "a.sqlite", {"k": "v"}).close()
    (tmp_path / "notes.sqlite").write_text("not a database at all " * 100)
    done = afx_cli("cache-merge", "m.sqlite", "a.sqlite")
    assert done.returncode == 0, done.stderr
    assert "a.sqlite: 1 entries, 1 added, 0 already present" in done.stdout and "now holds 1 entries" in done.stdout
    bad = afx_cli("cache-merge", "m.sqlite", "notes.sqlite")
    assert bad.returncode == 2 and bad.stderr.startswith("afx cache-merge: error:") and "Traceback" not in bad.stderr
    missing = afx_cli("cache-merge", "m.sqlite", "nope.sqlite")
    assert missing.returncode == 2 and "nope.sqlite does not exist" in missing.stderr


def test_two_nodes_caches_merged_replay_the_whole_sweep_without_model_calls(afx_cli, tmp_path):
    base = ("model=simulated", "data.limit=6", "progress=false")
    for node, setting in (("node1", "helpful_only"), ("node2", "animal_welfare")):
        done = afx_cli(f"setting={setting}", f"cache.path={tmp_path / node / 'responses.sqlite'}", *base)
        assert done.returncode == 0, done.stderr[-2000:]
    merged = tmp_path / "merged.sqlite"
    done = afx_cli("cache-merge", str(merged), "node1/responses.sqlite", "node2/responses.sqlite")
    assert done.returncode == 0, done.stderr
    sweep = tmp_path / "sweep"
    done = afx_cli(
        "-m", "setting=helpful_only,animal_welfare", f"cache.path={merged}", f"hydra.sweep.dir={sweep}", *base
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = [json.loads(p.read_text())["metrics"] for p in sorted(sweep.glob("*/metrics.json"))]
    assert len(metrics) == 2
    assert all(m["calls/model"] == 0 and m["calls/cache_hits"] > 0 for m in metrics)
    assert sum(m["calls/cache_hits"] for m in metrics) == len(_rows(merged))


def test_a_sources_unfolded_write_shards_are_merged_too(afx_cli, tmp_path):
    node = tmp_path / "node" / "responses.sqlite"
    _cache(node, {"k1": "folded"}).close()
    job = ResponseCache(node, shard=True)  # a job still running (or killed) on that node: entries in its shard
    job.put("k2", "simulated", Generation("in a shard"))
    done = afx_cli("cache-merge", "merged.sqlite", str(node))
    assert done.returncode == 0, done.stderr
    assert "responses.sqlite.shards/" in done.stdout and "now holds 2 entries" in done.stdout
    assert _rows(tmp_path / "merged.sqlite") == {"k1": "folded", "k2": "in a shard"}
    job.close()
