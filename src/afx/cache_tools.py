"""`afx cache-merge TARGET SOURCE...`: fold the response caches of several machines into one.

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
from dataclasses import dataclass
from pathlib import Path

from afx.cache import SCHEMA, quick_check, shard_files
from afx.errors import AfxError

REQUIRED = ("key", "text")
SALVAGE_CHUNK = 256  # rowids read per query when salvaging a damaged source
ROWIDS_PER_PAGE = 64  # upper bound on rows per page, to bound the rowid scan when max(rowid) is unreadable


@dataclass
class MergeReport:
    source: Path
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


def with_shards(sources: list[Path]) -> list[Path]:
    """Each source followed by its write shards, if it has any."""
    return [path for source in map(Path, sources) for path in (source, *shard_files(source))]


def merge_caches(target: Path, sources: list[Path]) -> list[MergeReport]:
    """Merge every source (and its write shards) into `target` (created if missing), one transaction per file."""
    conn = _connect(Path(target))
    try:
        resolved = Path(target).resolve()
        return [merge_one(conn, s) for s in with_shards(sources) if s.resolve() != resolved]
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="afx cache-merge",
        description="Merge response caches (SQLite files from several machines) into TARGET; first entry wins.",
    )
    parser.add_argument("target", type=Path, help="the merged cache (created if missing; may be a live cache)")
    parser.add_argument("sources", type=Path, nargs="+", help="caches to fold in, e.g. node*/responses.sqlite")
    args = parser.parse_args(argv)
    reports = merge_caches(args.target, args.sources)
    for r in reports:
        note = f", {r.conflicts} with a different response (target's kept)" if r.conflicts else ""
        what = f"damaged; salvaged {r.rows} readable entries" if r.damaged else f"{r.rows} entries"
        print(f"afx cache-merge: {r.source}: {what}, {r.added} added, {r.same} already present{note}")
    conn = sqlite3.connect(args.target)
    total = conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    conn.close()
    conflicts = sum(r.conflicts for r in reports)
    print(
        f"afx cache-merge: {args.target} now holds {total} entries" + (f"; {conflicts} conflicts" if conflicts else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
