"""One response cache for a cluster: `cache.url=postgresql+psycopg://...` against a real local PostgreSQL.

The fixture starts a private cluster (initdb + pg_ctl on a temp dir and a free port; skipped with the reason only
when the PostgreSQL binaries are missing); every test gets a fresh database. The bad-input tests need no server.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from afx.backends.base import Generation
from afx.cache import COLUMNS, ResponseCache
from afx.cache_pg import PgResponseCache
from afx.cache_tools import merge_caches
from afx.errors import AfxError
from afx.testing import postgres
from afx.testing.fake_anthropic import FakeAnthropic
from helpers import run_afx

WHY_NOT = postgres.missing()
needs_postgres = pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))
SWEEP = ("model=simulated", "data.limit=6", "progress=false", "viewer=false")


@pytest.fixture(scope="module")
def cluster() -> Iterator[postgres.LocalPostgres]:
    with postgres.LocalPostgres() as pg:
        yield pg


@pytest.fixture
def pg_url(cluster: postgres.LocalPostgres) -> str:
    """A fresh, empty database on the cluster."""
    return cluster.database(f"t_{uuid.uuid4().hex[:12]}")


def _rows(url: str) -> dict[str, str]:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return dict(conn.execute(sa.text("SELECT key, text FROM responses")).all())
    finally:
        eng.dispose()


def _metrics(folder: Path) -> list[dict]:
    return [json.loads(p.read_text())["metrics"] for p in sorted(folder.glob("*/metrics.json"))]


@needs_postgres
def test_the_table_has_the_sqlite_caches_columns(pg_url, tmp_path):
    PgResponseCache(pg_url).close()
    eng = sa.create_engine(pg_url)
    with eng.connect() as conn:
        pg_cols = conn.execute(
            sa.text("SELECT column_name FROM information_schema.columns WHERE table_name = 'responses' "
                    "ORDER BY ordinal_position")
        ).scalars().all()  # fmt: skip
        pk = conn.execute(
            sa.text("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'responses'::regclass AND i.indisprimary")
        ).scalars().all()  # fmt: skip
    eng.dispose()
    ResponseCache(tmp_path / "c.sqlite").close()
    lite = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA table_info(responses)").fetchall()
    assert pg_cols == [name for name, _ in COLUMNS] == [row[1] for row in lite]
    assert pk == ["key"] and [row[1] for row in lite if row[5]] == ["key"]


@needs_postgres
def test_insert_on_conflict_do_nothing_keeps_the_first_answer(pg_url):
    first, second = PgResponseCache(pg_url), PgResponseCache(pg_url)  # two connections, as two processes
    first.put("k", "sim", Generation("first answer", "stop", 3, 4))
    second.put("k", "sim", Generation("second answer", "length", 5, 6))
    assert second.get("k") == Generation("first answer", "stop", 3, 4)
    assert first.get("k") == second.get("k") and len(first) == len(second) == 1
    assert first.get("missing") is None
    assert _rows(pg_url) == {"k": "first answer"}
    first.close()
    second.close()


@needs_postgres
def test_a_server_restart_mid_run_reconnects_and_a_server_gone_is_one_line():
    with postgres.LocalPostgres() as pg:
        cache = PgResponseCache(pg.database("restart"))
        cache.put("k", "sim", Generation("before"))
        pg.restart()  # every connection dropped
        assert cache.get("k") == Generation("before")
        cache.put("k2", "sim", Generation("after"))
        assert len(cache) == 2
        pg.stop()
        with pytest.raises(
            AfxError, match=r"^cannot reach the response cache cache.url=postgresql\+psycopg://.*refused"
        ):
            cache.get("k")


WRITER = r"""
import json, random, sys, time
from pathlib import Path
from afx.backends.base import Generation
from afx.cache_pg import PgResponseCache

url, writer, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
cache = PgResponseCache(url)
keys = [f"shared-{i}" for i in range(300)] + [f"own-{writer}-{i}" for i in range(150)]
random.Random(writer).shuffle(keys)
while not go.exists():
    time.sleep(0.001)
seen = {}
for key in keys:
    cache.put(key, "sim", Generation(f"writer {writer} for {key}"))
    seen[key] = cache.get(key).text
cache.close()
print(json.dumps(seen))
"""


@needs_postgres
def test_eight_processes_writing_overlapping_keys_store_each_key_once(pg_url, tmp_path):
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, pg_url, str(w), str(go)], stdout=subprocess.PIPE, text=True)
        for w in range(8)
    ]
    time.sleep(2.0)  # every writer connected and waiting
    go.touch()
    seen = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        seen.append(json.loads(out))
    stored = _rows(pg_url)
    expected = {f"shared-{i}" for i in range(300)} | {f"own-{w}-{i}" for w in range(8) for i in range(150)}
    assert set(stored) == expected and len(stored) == 300 + 8 * 150  # every key, once (key is the primary key)
    for writer, answers in enumerate(seen):
        assert len(answers) == 450
        for key, text in answers.items():
            assert text == stored[key], "every writer reads back the one stored answer: none is lost or replaced"
            if key.startswith("own-"):
                assert text == f"writer {writer} for {key}"
    winners = {stored[f"shared-{i}"].split(" for ")[0] for i in range(300)}
    assert winners <= {f"writer {w}" for w in range(8)}
    assert all(stored[f"shared-{i}"].endswith(f" for shared-{i}") for i in range(300)), "whole answers only"


@needs_postgres
def test_a_rerun_against_postgres_is_a_pure_replay_and_the_password_is_never_written(pg_url, tmp_path):
    secret = "pw-" + uuid.uuid4().hex  # trust authentication: any password connects
    url = pg_url.replace("://afx@", f"://afx:{secret}@")
    sweeps = []
    for name in ("first", "rerun"):
        done = run_afx(
            "-m", "setting=helpful_only,animal_welfare", f"cache.url={url}", f"hydra.sweep.dir={tmp_path / name}",
            *SWEEP, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        sweeps.append(_metrics(tmp_path / name))
    first, rerun = sweeps
    assert len(first) == len(rerun) == 2
    assert all(m["calls/model"] > 0 for m in first)
    assert [m["calls/model"] for m in rerun] == [0, 0], "the rerun is a pure replay"
    assert [m["calls/cache_hits"] for m in rerun] == [m["calls/model"] for m in first]
    assert sum(m["calls/model"] for m in first) == len(_rows(pg_url))
    assert not (tmp_path / "outputs" / "cache" / "responses.sqlite").exists(), "nothing went to the SQLite file"
    logged = (tmp_path / "first" / "0" / "config.yaml").read_text()
    assert f"url: postgresql+psycopg://afx:<redacted>@127.0.0.1:{pg_url.split(':')[-1]}" in logged
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == [], f"the cache.url password was written to {leaks}"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("afx").experiment_id], "tags.`afx.kind` = 'job'")
    assert runs and all(r.data.params["cache.url"].startswith("postgresql+psycopg://afx:<redacted>@") for r in runs)


@needs_postgres
def test_cache_merge_counts_added_same_and_conflicts_both_ways(pg_url, tmp_path):
    lite = ResponseCache(tmp_path / "node.sqlite")
    for i in range(10):
        lite.put(f"k{i}", "sim", Generation(f"a{i}", "stop", i, i + 1))
    lite.close()
    pg = PgResponseCache(pg_url)
    pg.put("k8", "sim", Generation("a8"))
    pg.put("k9", "sim", Generation("other"))
    pg.put("only-pg", "sim", Generation("p"))
    pg.close()
    (to_pg,) = merge_caches(pg_url, [tmp_path / "node.sqlite"])
    assert (to_pg.rows, to_pg.added, to_pg.same, to_pg.conflicts) == (10, 8, 1, 1)
    rows = _rows(pg_url)
    assert len(rows) == 11 and rows["k9"] == "other" and rows["k3"] == "a3"
    assert PgResponseCache(pg_url).get("k3") == Generation("a3", "stop", 3, 4), "every column copied"
    (to_lite,) = merge_caches(tmp_path / "back.sqlite", [pg_url])
    assert (to_lite.rows, to_lite.added, to_lite.same, to_lite.conflicts) == (11, 11, 0, 0)
    back = ResponseCache(tmp_path / "back.sqlite")
    assert back.get("k3") == Generation("a3", "stop", 3, 4) and back.get("k9").text == "other" and len(back) == 11
    back.close()
    again = merge_caches(pg_url, [tmp_path / "back.sqlite"])
    assert [(r.added, r.same, r.conflicts) for r in again] == [(0, 11, 0)]


@needs_postgres
def test_cache_merge_sqlite_to_postgres_and_back_replays_a_sweep_without_model_calls(pg_url, tmp_path):
    node = tmp_path / "node" / "responses.sqlite"
    done = run_afx("setting=animal_welfare", f"cache.path={node}", *SWEEP, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    stored = sqlite3.connect(node).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    merged = run_afx("cache-merge", pg_url, str(node), cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    assert f"{stored} entries, {stored} added, 0 already present" in merged.stdout
    assert f"now holds {stored} entries" in merged.stdout
    replay = run_afx(
        "setting=animal_welfare", f"cache.url={pg_url}", f"hydra.run.dir={tmp_path / 'from_pg'}", *SWEEP, cwd=tmp_path
    )
    assert replay.returncode == 0, replay.stderr[-3000:]
    (from_pg,) = [json.loads((tmp_path / "from_pg" / "metrics.json").read_text())["metrics"]]
    assert from_pg["calls/model"] == 0 and from_pg["calls/cache_hits"] == stored

    back = tmp_path / "back.sqlite"
    merged = run_afx("cache-merge", f"sqlite:///{back}", pg_url, cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    assert f"now holds {stored} entries" in merged.stdout
    replay = run_afx(
        "setting=animal_welfare", f"cache.path={back}", f"hydra.run.dir={tmp_path / 'from_lite'}", *SWEEP, cwd=tmp_path
    )
    assert replay.returncode == 0, replay.stderr[-3000:]
    from_lite = json.loads((tmp_path / "from_lite" / "metrics.json").read_text())["metrics"]
    assert from_lite["calls/model"] == 0 and from_lite["calls/cache_hits"] == stored


# Bad input: no server needed; each is one line, exit 2, and the model server never hears a request.


def _one_line_no_calls(extra: tuple[str, ...], tmp_path: Path) -> tuple[str, int]:
    with FakeAnthropic() as fake:
        done = run_afx(
            "model=anthropic", f"model.base_url={fake.url}", "data.limit=2", "progress=false", *extra,
            cwd=tmp_path, env={"ANTHROPIC_API_KEY": "x"}, timeout=300,
        )  # fmt: skip
        calls = sum(fake.counts.values())
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0], calls


def test_an_unreachable_postgres_url_is_one_line_before_any_model_call(tmp_path):
    url = f"postgresql+psycopg://afx:hunter2-secret@127.0.0.1:{postgres.free_port()}/afx"
    line, calls = _one_line_no_calls((f"cache.url={url}",), tmp_path)
    assert line.startswith("afx: error: cannot reach the response cache cache.url=postgresql+psycopg://afx:***@127")
    assert "refused" in line and "hunter2-secret" not in line and calls == 0
    assert not (tmp_path / "outputs" / "runs").exists(), "no job started"
    # without the preflight reach check, the job's own open stops it the same way
    line, calls = _one_line_no_calls((f"cache.url={url}", "preflight.reach=false"), tmp_path)
    assert line.startswith("afx: error: cannot reach the response cache") and calls == 0


def test_a_missing_postgres_driver_is_one_line_before_any_model_call(tmp_path):
    assert importlib.util.find_spec("psycopg2") is None, "this test needs a driver that is not installed"
    url = f"postgresql+psycopg2://afx@127.0.0.1:{postgres.free_port()}/afx"
    line, calls = _one_line_no_calls((f"cache.url={url}",), tmp_path)
    assert line.startswith("afx: error: cache.url postgresql+psycopg2://afx@127.0.0.1")
    assert "needs the PostgreSQL driver 'psycopg2', which is not installed" in line and "pip install" in line
    assert calls == 0 and not (tmp_path / "outputs" / "runs").exists(), "stopped by the preflight, no job started"


def test_cache_merge_to_an_unreachable_url_is_one_line(tmp_path):
    ResponseCache(tmp_path / "a.sqlite").close()
    url = f"postgresql+psycopg://afx@127.0.0.1:{postgres.free_port()}/afx"
    done = run_afx("cache-merge", url, "a.sqlite", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("afx cache-merge: error: cannot reach the response cache target=")
    assert len(done.stderr.strip().splitlines()) == 1


@needs_postgres
def test_judge_responses_go_to_the_shared_cache_too(pg_url, tmp_path):
    """With cache.url set, an LLM judge's answers are stored in PostgreSQL beside the model's, not in a per-machine
    SQLite file, and a rerun replays both without a call."""
    with FakeAnthropic() as fake:
        fake.reply = lambda body: "<final_answer>no</final_answer>"
        args = (
            "setting=helpful_only", f"cache.url={pg_url}", "classifier=llm_judge_local_generate",
            "model@classifier.judge=anthropic_opus_4_5", f"classifier.judge.base_url={fake.url}",
            "classifier.judge.api_version=2023-06-01", *SWEEP,
        )  # fmt: skip
        first = run_afx(*args, cwd=tmp_path, env={"ANTHROPIC_API_KEY": "k"})
        assert first.returncode == 0, first.stderr[-3000:]
        judged = fake.count("messages", ok=True)
        rerun = run_afx(*args, cwd=tmp_path, env={"ANTHROPIC_API_KEY": "k"})
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert fake.count("messages", ok=True) == judged > 0, "the rerun asked the judge nothing"
    runs = [json.loads(p.read_text())["metrics"] for p in tmp_path.glob("outputs/runs/*/metrics.json")]
    (made,) = [m for m in runs if m["calls/model"] > 0]
    (replayed,) = [m for m in runs if m["calls/model"] == 0]
    assert made["judge/calls"] == judged and replayed["judge/calls"] == 0
    assert len(_rows(pg_url)) == made["calls/model"] + judged, "model and judge answers are all in PostgreSQL"
    assert not (tmp_path / "outputs" / "cache" / "responses.sqlite").exists(), "nothing went to the SQLite file"
