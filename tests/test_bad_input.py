"""Bad input (issue 15, item 7): each case is the exact input, the exact one line it must print, its exit code and
no traceback. Config values are checked against afx.config_schema's table in preflight, before any model call;
query files name the file and the row; `--help` of the subcommands prints usage.

case: input -> the whole of stderr (exit code)
- model.delay_s=abc -> afx: error: model.delay_s must be a number >= 0, got 'abc' (2)
- a CSV row with an empty query field -> afx: error: query file q.csv line 3: empty 'query' field ... (2)
- a multirun against a garbage MLflow store -> afx: error: MLflow store ... is not an SQLite database ... (2)
- afx plan --help, afx validate-classifier --help -> usage on stdout (0)
- an empty / header-only query CSV -> afx: error: query file ...: no usable rows (...) (2)
- data.samples_per_query=0, model.max_concurrency=0, model.failure_rate=2, data.limit=abc / 1.5, data.seed=abc
  -> afx: error: <key> must be <allowed>, got <value> (2)
- duplicate ids -> the id and both lines (2); an empty query string -> the file and the item (2)
- a non-UTF-8 CSV, a 1 MB query -> the file, the line (2)
- a read-only cache folder -> afx: error: response cache folder ... is read-only ... (2)
"""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from afx.config_schema import RULES, check_config
from afx.errors import AfxError
from helpers import run_afx

SIM = ("model=simulated", "data.limit=1", "progress=false", "viewer=false")
KEY = {"ANTHROPIC_API_KEY": "x"}
GARBAGE = random.Random(15).randbytes(20_000)
BIG = 1_000_001


def _case(id_, args, line, files=None, env=None):
    return pytest.param(list(args), line, files or {}, env or {}, id=id_)


CASES = [
    _case("delay_s_abc", [*SIM, "model.delay_s=abc"], "afx: error: model.delay_s must be a number >= 0, got 'abc'"),
    _case(
        "csv_row_empty_query",
        [*SIM, "setting.queries.sources=[q.csv]"],
        "afx: error: query file q.csv line 3: empty 'query' field (fill it in or delete the row)",
        {"q.csv": b"id,query\na,hello\nb,\nc,bye\n"},
    ),
    _case(
        "garbage_mlflow_store_multirun",
        ["-m", *SIM, "prefix=none,deceptive", "tracking.uri=sqlite:///{tmp}/g/mlflow.db"],
        "afx: error: MLflow store sqlite:///{tmp}/g/mlflow.db is not an SQLite database (file {tmp}/g/mlflow.db has "
        "no SQLite header); move the file away or set tracking.uri",
        {"g/mlflow.db": GARBAGE},
    ),
    _case(
        "empty_csv",
        [*SIM, "setting.queries.sources=[q.csv]"],
        "afx: error: query file q.csv: no usable rows (the file is empty)",
        {"q.csv": b""},
    ),
    _case(
        "header_only_csv",
        [*SIM, "setting.queries.sources=[q.csv]"],
        "afx: error: query file q.csv: no usable rows (only the header: id, query)",
        {"q.csv": b"id,query\n"},
    ),
    _case(
        "csv_unquoted_comma",
        [*SIM, "setting.queries.sources=[q.csv]"],
        "afx: error: query file q.csv line 3: 3 fields but the header has 2 (quote a value that holds a comma)",
        {"q.csv": b"id,query\na,hello\nb,hi, there\n"},
    ),
    _case(
        "samples_per_query_0",
        [*SIM, "data.samples_per_query=0"],
        "afx: error: data.samples_per_query must be a positive integer, got 0",
    ),
    _case(
        "duplicate_ids",
        [*SIM, "setting.queries.sources=[q.csv]"],
        "afx: error: query file q.csv: id 'a' appears more than once (lines 2 and 4)",
        {"q.csv": b"id,query\na,hello\nb,other\na,world\n"},
    ),
    _case(
        "max_concurrency_0",
        ["model=anthropic", "model.max_concurrency=0", "data.limit=1", "progress=false"],
        "afx: error: model.max_concurrency must be a positive integer, got 0",
        env=KEY,
    ),
    _case(
        "judge_max_concurrency_0",
        [*SIM, "classifier=llm_judge", "classifier.judge.max_concurrency=0"],
        "afx: error: classifier.judge.max_concurrency must be a positive integer, got 0",
        env=KEY,
    ),
    _case(
        "failure_rate_2",
        [*SIM, "model.failure_rate=2"],
        "afx: error: model.failure_rate must be a number from 0 to 1, got 2",
    ),
    _case(
        "empty_query_string",
        [*SIM, "setting.queries.sources=[q.json]"],
        "afx: error: query file q.json item 2: empty query (fill it in or delete it)",
        {"q.json": b'["hello", "  ", "bye"]'},
    ),
    _case(
        "limit_abc",
        [*SIM, "data.limit=abc"],
        "afx: error: data.limit must be a positive integer or null, got 'abc'",
    ),
    _case("limit_1_5", [*SIM, "data.limit=1.5"], "afx: error: data.limit must be a positive integer or null, got 1.5"),
    _case("seed_abc", [*SIM, "data.seed=abc"], "afx: error: data.seed must be an integer, got 'abc'"),
    _case(
        "non_utf8_csv",
        [*SIM, "setting.queries.sources=[q.csv]"],
        "afx: error: query file q.csv is not UTF-8 text (byte 0xe9 on line 3); save it as UTF-8",
        {"q.csv": "id,query\na,hello\nb,café\n".encode("latin-1")},
    ),
    _case(
        "one_mb_query",
        [*SIM, "setting.queries.sources=[q.csv]"],
        f"afx: error: query file q.csv line 3: the 'query' field has {BIG:,} characters (at most 131,072: "
        "a quote left open?)",
        {"q.csv": b"id,query\na,hello\nb," + b"x" * BIG + b"\n"},
    ),
    _case(
        "one_mb_query_jsonl",
        [*SIM, "setting.queries.sources=[q.jsonl]"],
        f"afx: error: query file q.jsonl line 2: the 'query' field has {BIG:,} characters (at most 131,072: "
        "a quote left open?)",
        {"q.jsonl": b'{"query": "hi"}\n{"query": "' + b"x" * BIG + b'"}\n'},
    ),
    _case(
        "read_only_cache_folder",
        [*SIM, "cache.path={ro}/responses.sqlite"],
        "afx: error: response cache folder {ro} is read-only (cache.path={ro}/responses.sqlite); fix the "
        "permissions, set cache.path, or cache.enabled=false",
    ),
    _case(  # without preflight, the cache's own open says read-only too (not "if it is corrupt, move it away")
        "read_only_cache_folder_no_preflight",
        [*SIM, "cache.path={ro}/responses.sqlite"],
        "afx: error: response cache {ro}/responses.sqlite cannot be written (unable to open database file): folder "
        "{ro} is read-only; fix the permissions, set cache.path, or cache.enabled=false",
        env={"AFX_SKIP_PREFLIGHT": "1"},
    ),
]


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Path:
    """A folder this user cannot write; as root (which ignores folder permissions) a read-only sysfs folder."""
    if os.geteuid() == 0:
        return Path("/sys/kernel")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return folder


@pytest.mark.parametrize(("args", "line", "files", "env"), CASES)
def test_bad_input_is_one_line_and_exit_2(tmp_path, read_only_folder, args, line, files, env):
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    fill = {"tmp": str(tmp_path), "ro": str(read_only_folder)}
    done = run_afx(*(a.format(**fill) for a in args), cwd=tmp_path, env=env, timeout=300)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    assert done.stderr.strip() == line.format(**fill), done.stderr[-3000:]
    assert done.returncode == 2
    assert not list(tmp_path.glob("outputs/*/*/transcripts.jsonl")), "no job ran"


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        pytest.param(["plan", "--help"], "usage: afx plan", id="plan"),
        pytest.param(["plan", "-h"], "usage: afx plan", id="plan_h"),
        pytest.param(["validate-classifier", "--help"], "usage: afx validate-classifier", id="validate"),
        pytest.param(["validate-classifier", "-h"], "usage: afx validate-classifier", id="validate_h"),
    ],
)
def test_subcommand_help_prints_usage(tmp_path, command, usage):
    done = run_afx(*command, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(usage) and "Traceback" not in done.stderr + done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("command", "line"),
    [
        pytest.param(["plan", "--bogus"], "afx plan: error: unrecognized arguments: --bogus", id="plan"),
        pytest.param(
            ["plan", "model=simulated", "data.limit=abc"],
            "afx plan: error: data.limit must be a positive integer or null, got 'abc'",
            id="plan_bad_value",
        ),
        pytest.param(
            ["validate-classifier", "--bogus"],
            "afx validate-classifier: error: unrecognized arguments: --bogus",
            id="validate",
        ),
    ],
)
def test_subcommand_bad_option_or_value_is_one_line(tmp_path, command, line):
    done = run_afx(*command, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == line, done.stderr[-3000:]


def test_plan_still_takes_sweep_overrides(tmp_path):
    done = run_afx("plan", "-m", "model=simulated", "prefix=none,deceptive", "data.limit=2", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "afx plan: 2 jobs, 8 samples" in done.stdout


# --- the schema table itself -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "good", "bad", "message"),
    [
        ("data.limit", None, 0, "data.limit must be a positive integer or null, got 0"),
        ("data.limit", 3, True, "data.limit must be a positive integer or null, got True"),
        ("data.seed", -1, "x", "data.seed must be an integer, got 'x'"),
        ("data.samples_per_query", 2, 2.5, "data.samples_per_query must be a positive integer, got 2.5"),
        ("cache.enabled", False, "yes", "cache.enabled must be true or false, got 'yes'"),
        ("model.faker_unmonitored_af", True, 1, "model.faker_unmonitored_af must be true or false, got 1"),
        ("cache.max_mb", None, -1, "cache.max_mb must be a number > 0 or null, got -1"),
        ("cache.retries", 0, -1, "cache.retries must be an integer >= 0, got -1"),
        ("preflight.timeout_s", 0.5, 0, "preflight.timeout_s must be a number > 0, got 0"),
        ("model.failure_rate", 1, -0.1, "model.failure_rate must be a number from 0 to 1, got -0.1"),
        ("model.sampling.max_tokens", 1, 0, "model.sampling.max_tokens must be a positive integer, got 0"),
        ("model.sampling.temperature", 0.0, "hot", "model.sampling.temperature must be a number >= 0 or null"),
        ("classifier.judge.timeout_s", 30, 0, "classifier.judge.timeout_s must be a number > 0 or null, got 0"),
    ],
)
def test_schema_rules(key, good, bad, message):
    check_config(_nested(key, good))
    check_config(OmegaConf.create({}))  # an absent key is not checked: groups differ in what they hold
    with pytest.raises(AfxError) as info:
        check_config(_nested(key, bad))
    assert str(info.value).startswith(message)


def _nested(key: str, value: object):
    node: object = value
    for part in reversed(key.split(".")):
        node = {part: node}
    return OmegaConf.create(node)


@pytest.mark.parametrize(
    "overrides",
    [
        [f"model={m}"]
        for m in (
            "local",
            "local_small",
            "simulated",
            "anthropic",
            "anthropic_opus_4_5",
            "anthropic_opus_3",
            "anthropic_sonnet_3_5",
            "anthropic_sonnet_4_6",
            "openai_compatible",
        )
    ]
    + [[f"classifier={c}"] for c in ("heuristic", "llm_judge", "llm_judge_reasoned", "llm_judge_paper", "oracle")]
    + [["classifier=llm_judge_local"], ["classifier=llm_judge_local_generate"]],
)
def test_every_shipped_config_passes_the_schema(compose_cfg, overrides):
    check_config(compose_cfg(*overrides))


def test_every_rule_names_a_key_some_shipped_config_holds(compose_cfg):
    configs = [compose_cfg(f"model={m}", "classifier=llm_judge") for m in ("simulated", "anthropic", "local")]
    configs.append(compose_cfg("model=openai_compatible", "classifier=llm_judge_local"))
    held = {rule.key for rule in RULES for cfg in configs if OmegaConf.select(cfg, rule.key, default=...) is not ...}
    assert held == {rule.key for rule in RULES}, sorted({rule.key for rule in RULES} - held)
