"""`afx cache-merge TARGET SOURCE...`: fold the response caches of several machines into one.

Each node of a cluster keeps its own SQLite response cache (SQLite must not be shared over NFS: its locks are
not reliable there). After a sweep, copy the nodes' files somewhere and merge them; the merged file is a
normal cache, so pointing `cache.path` at it makes a rerun of the same sweep anywhere a pure cache replay.

Entries are keyed by the hash of the whole request, so the same key on two nodes is the same request. The
first entry wins, as in the cache itself: an entry already in TARGET is never replaced. If a source holds a
different response for a key TARGET already has (two nodes sampled the same request independently), the
target's entry is kept and the disagreement is counted and reported, never silently mixed.

A source's write shards (`<source>.shards/*.sqlite`: responses of parallel jobs not yet folded into it, e.g. of a
job killed on that node) are merged too, after the source itself.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from afx.cache import SCHEMA, shard_files
from afx.errors import AfxError

REQUIRED = ("key", "text")


@dataclass
class MergeReport:
    source: Path
    rows: int  # entries in the source
    added: int  # new in the target
    same: int  # already in the target with the same response
    conflicts: int  # already in the target with a different response (target kept)


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
        print(f"afx cache-merge: {r.source}: {r.rows} entries, {r.added} added, {r.same} already present{note}")
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
