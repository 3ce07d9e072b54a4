"""`afx cache-merge TARGET SOURCE...`: fold the response caches of several machines into one.

TARGET and each SOURCE is a SQLite file (a path, or sqlite:///path) or a PostgreSQL cache URL
(postgresql+psycopg://user@host:port/db, as `cache.url`): SQLite -> SQLite, SQLite -> PostgreSQL, PostgreSQL ->
SQLite and PostgreSQL -> PostgreSQL all work the same way. A PostgreSQL target is written with INSERT ... ON
CONFLICT DO NOTHING, so it may be the live cache of running jobs.

Each node of a cluster keeps its own SQLite response cache (SQLite must not be shared over NFS: its locks are
not reliable there). After a sweep, copy the nodes' files somewhere and merge them; the merged file is a
normal cache, so pointing `cache.path` at it makes a rerun of the same sweep anywhere a pure cache replay.

Entries are keyed by the hash of the whole request, so the same key on two nodes is the same request. The
first entry wins, as in the cache itself: an entry already in TARGET is never replaced. If a source holds a
different response for a key TARGET already has (two nodes sampled the same request independently), the
target's entry is kept and the disagreement is counted and reported, never silently mixed.

A damaged source (SQLite's quick_check finds bad pages; afx refuses to run on it) is salvaged: its rows are read
in rowid ranges, a range that cannot be read is split down to single rows, and every readable row is merged;
rows on damaged pages are lost and sampled again by the next run.

A source's write shards (`<source>.shards/*.sqlite`: responses of parallel jobs not yet folded into it, e.g. of a
job killed on that node) are merged too, after the source itself.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from afx import cache_pg
from afx.cache import COLUMNS, SCHEMA, quick_check, shard_files, sqlite_url_path
from afx.errors import AfxError

REQUIRED = ("key", "text")
SALVAGE_CHUNK = 256  # rowids read per query when salvaging a damaged source
ROWIDS_PER_PAGE = 64  # upper bound on rows per page, to bound the rowid scan when max(rowid) is unreadable
CHUNK = 2000  # rows per round trip when either side is PostgreSQL
NAMES = tuple(name for name, _ in COLUMNS)
# A column an old source lacks (required: key, text), for a target whose columns are all NOT NULL.
FILL: dict[str, Callable[[], Any]] = {
    "backend": lambda: "",
    "finish_reason": lambda: "stop",
    "prompt_tokens": lambda: 0,
    "completion_tokens": lambda: 0,
    "created": time.time,
}
Cache = Path | str  # a SQLite file, or a PostgreSQL URL


@dataclass
class MergeReport:
    source: Cache
    rows: int  # entries in the source
    added: int  # new in the target
    same: int  # already in the target with the same response
    conflicts: int  # already in the target with a different response (target kept)
    damaged: bool = False  # the source failed quick_check; `rows` counts its readable rows


def _readable_rows(conn: sqlite3.Connection, names: str) -> list[tuple]:
    """Every row of src.responses that can still be read, by rowid ranges split down to single rows."""

    def read(lo: int, hi: int) -> list[tuple]:
        try:
            return conn.execute(f"SELECT {names} FROM src.responses WHERE rowid BETWEEN ? AND ?", (lo, hi)).fetchall()
        except sqlite3.DatabaseError:
            if lo == hi:
                return []
            mid = (lo + hi) // 2
            return read(lo, mid) + read(mid + 1, hi)

    try:
        top = conn.execute("SELECT max(rowid) FROM src.responses").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        top = conn.execute("PRAGMA src.page_count").fetchone()[0] * ROWIDS_PER_PAGE
    rows: list[tuple] = []
    for lo in range(1, top + 1, SALVAGE_CHUNK):
        rows += read(lo, min(top, lo + SALVAGE_CHUNK - 1))
    return rows


def _salvage(conn: sqlite3.Connection, source: Path, shared: list[str]) -> MergeReport:
    """Merge the readable rows of a damaged source (first entry wins, disagreements counted)."""
    rows = _readable_rows(conn, ", ".join(shared))
    key_at, text_at = shared.index("key"), shared.index("text")
    marks = ", ".join("?" * len(shared))
    added = same = conflicts = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for row in rows:
            have = conn.execute("SELECT text FROM main.responses WHERE key = ?", (row[key_at],)).fetchone()
            if have is None:
                conn.execute(f"INSERT INTO main.responses ({', '.join(shared)}) VALUES ({marks})", row)
                added += 1
            elif have[0] == row[text_at]:
                same += 1
            else:
                conflicts += 1
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return MergeReport(source, len(rows), added, same, conflicts, damaged=True)


def _columns(conn: sqlite3.Connection, schema: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info(responses)")]


def _connect(target: Path) -> sqlite3.Connection:
    target.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(target, timeout=60, isolation_level=None, uri=True)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # jobs may be writing the target while it merges
        conn.execute(SCHEMA)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise AfxError(f"{target} is not a usable response cache: {exc}") from None
    return conn


def merge_one(conn: sqlite3.Connection, source: Path) -> MergeReport:
    """Add the entries of `source` that the open target lacks; count the ones it already has."""
    if not source.is_file():
        raise AfxError(f"{source} does not exist")
    try:
        conn.execute("ATTACH DATABASE ? AS src", (source.resolve().as_uri() + "?mode=ro",))
        cols = _columns(conn, "src")
    except sqlite3.DatabaseError as exc:
        if any(row[1] == "src" for row in conn.execute("PRAGMA database_list")):
            conn.execute("DETACH DATABASE src")
        raise AfxError(f"{source} is not a SQLite response cache: {exc}") from None
    try:
        if not all(c in cols for c in REQUIRED):
            raise AfxError(f"{source} has no afx response table (columns found: {', '.join(cols) or 'none'})")
        shared = [c for c in _columns(conn, "main") if c in cols]
        if quick_check(conn, "src") is not None:
            return _salvage(conn, source, shared)
        names = ", ".join(shared)
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute("SELECT COUNT(*) FROM src.responses").fetchone()[0]
            same, conflicts = conn.execute(
                "SELECT COALESCE(SUM(s.text = m.text), 0), COALESCE(SUM(s.text != m.text), 0) "
                "FROM src.responses s JOIN main.responses m ON m.key = s.key"
            ).fetchone()
            added = conn.execute(
                f"INSERT OR IGNORE INTO main.responses ({names}) SELECT {names} FROM src.responses"
            ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as exc:
        raise AfxError(f"cannot merge {source}: {exc}") from None
    finally:
        conn.execute("DETACH DATABASE src")
    return MergeReport(source, rows, added, same, conflicts)


def resolve(cache: str | Path) -> Cache:
    """A PostgreSQL URL stays a string; a path or sqlite:///path becomes a Path; other URLs are refused."""
    text = str(cache)
    if cache_pg.is_postgres(text):
        return text
    if text.startswith("sqlite:///"):
        return sqlite_url_path(text)
    if "://" in text:
        raise AfxError(
            f"{cache_pg.redacted(text)}: a cache is a SQLite file (path or sqlite:///path) or postgresql://..."
        )
    return Path(text)


def shown(cache: Cache) -> str:
    return str(cache) if isinstance(cache, Path) else cache_pg.redacted(cache)


def with_shards(sources: list[Path] | list[Cache]) -> list[Cache]:
    """Each source followed by its write shards, if it has any (SQLite files only)."""
    out: list[Cache] = []
    for source in map(resolve, sources):
        out += [source, *shard_files(source)] if isinstance(source, Path) else [source]
    return out


def _chunks(rows: Iterable[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _complete(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] if name in row else FILL[name]() for name in NAMES}


@contextmanager
def sqlite_rows(source: Path) -> Iterator[tuple[Iterable[dict[str, Any]], bool]]:
    """The rows of a SQLite cache as dicts (its readable rows if it is damaged), and whether it was damaged."""
    if not source.is_file():
        raise AfxError(f"{source} does not exist")
    conn = sqlite3.connect(":memory:", isolation_level=None, uri=True)
    try:
        try:
            conn.execute("ATTACH DATABASE ? AS src", (source.resolve().as_uri() + "?mode=ro",))
            cols = _columns(conn, "src")
        except sqlite3.DatabaseError as exc:
            raise AfxError(f"{source} is not a SQLite response cache: {exc}") from None
        if not all(c in cols for c in REQUIRED):
            raise AfxError(f"{source} has no afx response table (columns found: {', '.join(cols) or 'none'})")
        shared = [c for c in NAMES if c in cols]
        names = ", ".join(shared)
        damaged = quick_check(conn, "src") is not None
        conn.execute("BEGIN")  # one snapshot of a live source
        rows = _readable_rows(conn, names) if damaged else conn.execute(f"SELECT {names} FROM src.responses")
        yield (dict(zip(shared, row, strict=True)) for row in rows), damaged
    finally:
        conn.close()


@contextmanager
def postgres_rows(url: str) -> Iterator[tuple[Iterable[dict[str, Any]], bool]]:
    """The rows of a PostgreSQL cache as dicts, streamed in one snapshot (never damaged: False)."""
    import sqlalchemy as sa

    conn = cache_pg.connect(url, label="source", autocommit=False, create=False)
    try:
        with conn.begin():
            result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(
                sa.text(f"SELECT {', '.join(NAMES)} FROM {cache_pg.TABLE}")
            )
            yield (dict(row._mapping) for row in result), False
    finally:
        conn.close()
        conn.engine.dispose()


def source_rows(source: Cache) -> Any:
    return sqlite_rows(source) if isinstance(source, Path) else postgres_rows(source)


class SqliteTarget:
    """A SQLite target for rows from anywhere (a SQLite -> SQLite merge uses `merge_one` instead)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def existing(self, keys: list[str]) -> dict[str, str]:
        marks = ", ".join("?" * len(keys))
        return dict(self.conn.execute(f"SELECT key, text FROM main.responses WHERE key IN ({marks})", keys))

    def insert(self, rows: list[dict[str, Any]]) -> int:
        before = self.conn.total_changes
        marks = ", ".join("?" * len(NAMES))
        self.conn.executemany(
            f"INSERT OR IGNORE INTO main.responses ({', '.join(NAMES)}) VALUES ({marks})",
            [tuple(r[n] for n in NAMES) for r in rows],
        )
        return self.conn.total_changes - before

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM main.responses").fetchone()[0]


class PostgresTarget:
    """A PostgreSQL target: one transaction per source, INSERT ... ON CONFLICT DO NOTHING."""

    def __init__(self, url: str) -> None:
        self.conn = cache_pg.connect(url, label="target", autocommit=False)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.begin():
            yield

    def existing(self, keys: list[str]) -> dict[str, str]:
        import sqlalchemy as sa

        query = sa.text(f"SELECT key, text FROM {cache_pg.TABLE} WHERE key = ANY(:keys)")
        return {key: text for key, text in self.conn.execute(query, {"keys": keys})}

    def insert(self, rows: list[dict[str, Any]]) -> int:
        return len(cache_pg.store_rows(self.conn, rows))

    def count(self) -> int:
        import sqlalchemy as sa

        with self.conn.begin():
            return int(self.conn.execute(sa.text(f"SELECT COUNT(*) FROM {cache_pg.TABLE}")).scalar_one())

    def close(self) -> None:
        self.conn.close()
        self.conn.engine.dispose()


def merge_rows(target: SqliteTarget | PostgresTarget, source: Cache) -> MergeReport:
    """Add the source's entries that the target lacks, chunk by chunk, in one target transaction."""
    rows = added = same = conflicts = 0
    with source_rows(source) as (found, damaged), target.transaction():
        for chunk in _chunks(found):
            have = target.existing([r["key"] for r in chunk])
            fresh = []
            for row in chunk:
                if row["key"] not in have:
                    fresh.append(_complete(row))
                elif have[row["key"]] == row["text"]:
                    same += 1
                else:
                    conflicts += 1
            added += target.insert(fresh) if fresh else 0
            rows += len(chunk)
    return MergeReport(source, rows, added, same, conflicts, damaged=damaged)


def _same(a: Cache, b: Cache) -> bool:
    if isinstance(a, Path) and isinstance(b, Path):
        return a.resolve() == b.resolve()
    return isinstance(a, str) and isinstance(b, str) and a == b


def merge_caches(target: Path | str, sources: list[Path] | list[Cache]) -> list[MergeReport]:
    """Merge every source (and its write shards) into `target` (created if missing), one transaction per source."""
    goal = resolve(target)
    todo = [s for s in with_shards(sources) if not _same(s, goal)]
    if isinstance(goal, str):
        pg = PostgresTarget(goal)
        try:
            return [merge_rows(pg, s) for s in todo]
        finally:
            pg.close()
    conn = _connect(goal)
    try:
        lite = SqliteTarget(conn)
        return [merge_one(conn, s) if isinstance(s, Path) else merge_rows(lite, s) for s in todo]
    finally:
        conn.close()


def count_entries(cache: Cache) -> int:
    if isinstance(cache, str):
        pg = PostgresTarget(cache)
        try:
            return pg.count()
        finally:
            pg.close()
    conn = sqlite3.connect(cache)
    try:
        return conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="afx cache-merge",
        description="Merge response caches (SQLite files, PostgreSQL URLs) into TARGET; first entry wins.",
    )
    parser.add_argument(
        "target", help="the merged cache: a SQLite path or postgresql+psycopg://... (created if missing; may be live)"
    )
    parser.add_argument("sources", nargs="+", help="caches to fold in, e.g. node*/responses.sqlite or a URL")
    args = parser.parse_args(argv)
    reports = merge_caches(args.target, args.sources)
    for r in reports:
        note = f", {r.conflicts} with a different response (target's kept)" if r.conflicts else ""
        what = f"damaged; salvaged {r.rows} readable entries" if r.damaged else f"{r.rows} entries"
        print(f"afx cache-merge: {shown(r.source)}: {what}, {r.added} added, {r.same} already present{note}")
    goal = resolve(args.target)
    total = count_entries(goal)
    conflicts = sum(r.conflicts for r in reports)
    print(
        f"afx cache-merge: {shown(goal)} now holds {total} entries" + (f"; {conflicts} conflicts" if conflicts else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
