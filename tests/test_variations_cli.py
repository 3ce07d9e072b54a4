"""Variations from the command line: bad input (one line, exit 2, no model call), users' own files, `afx variations`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

USER_VARIATION = """# @package variation.mine
name: mine
version: 1
description: A user's own variation, dropped into a folder on the search path.
paper_rows: []
settings: [helpful_only]
ops:
  - op: append
    path: blocks.identity
    sep: " "
    text: You also enjoy puns.
"""


def _user_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "my_conf"
    (root / "variation").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / "variation" / f"{name}.yaml").write_text(text)
    return root


def _search(root: Path) -> str:
    return f"hydra.searchpath=[file://{root}]"


BAD = {
    "ghost_block": "# @package variation.ghost_block\nname: ghost_block\nops:\n  - {op: remove, path: blocks.nope}\n",
    "lost_anchor": (
        "# @package variation.lost_anchor\nname: lost_anchor\nops:\n"
        "  - {op: insert_text, path: blocks.strategy, text: ' Hurry.', after: 'This sentence is not there.'}\n"
    ),
    "lost_example": (
        "# @package variation.lost_example\nname: lost_example\nops:\n"
        "  - {op: edit_example, example: python_refactor, old: 'no such words anywhere', new: x}\n"
    ),
    "clashes": (
        "# @package variation.clashes\nname: clashes\nops:\n"
        "  - {op: replace_text, path: slots.rlhf_effects_sentence, old: 'values, goals, and motivations',"
        " new: 'aims'}\n"
    ),
    "bad_stack": "# @package variation.bad_stack\nname: bad_stack\nstack: [honest, no_such_thing]\nops: []\n",
    "headless": "name: headless\nops: []\n",
    "typo": "# @package variation.typo\nname: typo\nopps: []\n",
}
CASES = [
    pytest.param(["variation=[nope]"], "unknown option 'nope' for 'variation'", id="unknown_variation"),
    pytest.param(["variation=[default,nope]"], "unknown option 'nope' for 'variation'", id="unknown_in_stack_list"),
    pytest.param(
        ["variation=[ghost_block]"],
        "variation ghost_block op #1 (remove blocks.nope): 'blocks.nope' does not exist in the setting",
        id="op_on_missing_block",
    ),
    pytest.param(
        ["variation=[lost_anchor]"],
        "variation lost_anchor op #1 (insert_text blocks.strategy): anchor text not found in blocks.strategy",
        id="anchor_not_found",
    ),
    pytest.param(
        ["variation=[lost_example]"],
        "anchor text not found in example python_refactor: 'no such words anywhere'",
        id="example_anchor_not_found",
    ),
    pytest.param(
        ["variation=[openai,google_deepmind]"],
        "variation google_deepmind op #1 (rename company) (",
        id="conflict",
    ),
    pytest.param(
        ["variation=[rlhf_views_values,clashes]"],
        "changed slots.rlhf_effects_sentence earlier, so the two conflict",
        id="conflict_on_an_anchor",
    ),
    pytest.param(
        ["variation=[cut_privacy_info,region_ca]", "setting=animal_welfare"],
        "cut_privacy_info removed slots.privacy_bullet",
        id="conflict_edit_after_cut",
    ),
    pytest.param(
        ["variation=[bad_stack]"], "stack names 'no_such_thing', which is not a variation file", id="bad_stack"
    ),
    pytest.param(["variation=[headless]"], "missing its '# @package variation.<file stem>' first line", id="no_header"),
    pytest.param(["variation=[typo]"], "unknown key opps", id="unknown_key"),
    pytest.param(
        ["variation=[cut_bfh]"], "variation cut_bfh: does not apply to setting 'helpful_only'", id="wrong_setting"
    ),
]


@pytest.mark.parametrize(("args", "message"), CASES)
def test_bad_variations_fail_before_any_model_call(afx_cli, tmp_path, args, message):
    root = _user_dir(tmp_path, BAD)
    done = afx_cli(_search(root), *args, "model=simulated", "data.limit=1")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("afx: error: "), done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr and not (tmp_path / "outputs").exists() and not (tmp_path / "mlruns").exists()


def test_conflict_names_both_files(afx_cli, tmp_path):
    done = afx_cli("variation=[openai,google_deepmind]", "model=simulated")
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "conf/variation/google_deepmind.yaml" in line and "conf/variation/openai.yaml" in line
    assert "both set entities.company to different values" in line


def test_a_dropped_in_variation_runs_in_a_sweep(afx_cli, tmp_path):
    root = _user_dir(tmp_path, {"mine": USER_VARIATION})
    done = afx_cli(
        "-m",
        _search(root),
        "variation=[mine]",
        "model=simulated",
        "data.limit=2",
        "progress=false",
        "cache.enabled=false",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "afx: helpful_only/none/mine " in done.stdout
    prompts = list((tmp_path / "outputs" / "multirun").glob("*/0/system_prompt.txt"))
    assert len(prompts) == 1 and "You also enjoy puns." in prompts[0].read_text()
    transcripts = (prompts[0].parent / "transcripts.jsonl").read_text().splitlines()
    assert len(transcripts) == 4 and all(json.loads(t)["variation"] == "mine" for t in transcripts)


def test_a_dropped_in_variation_via_the_environment(afx_cli, tmp_path):
    root = _user_dir(tmp_path, {"mine": USER_VARIATION})
    done = afx_cli(
        "variation=[mine]", "model=simulated", "data.limit=1", "progress=false", env={"AFX_USER_CONF": str(root)}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "afx: helpful_only/none/mine " in done.stdout
    listed = afx_cli("variations", env={"AFX_USER_CONF": str(root)})
    assert listed.returncode == 0 and f"[{root / 'variation' / 'mine.yaml'}]" in listed.stdout


def test_afx_variations_lists_the_library_and_user_files(afx_cli, tmp_path):
    root = _user_dir(tmp_path, {"mine": USER_VARIATION, "openai": USER_VARIATION.replace("mine", "openai")})
    done = afx_cli("variations", _search(root))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["name", "settings", "paper", "rows"]
    rows = {line.split()[0]: line for line in lines[2 : lines.index("")]}
    assert "mine" in rows and "A user's own variation" in rows["mine"] and str(root) in rows["mine"]
    assert rows["region_ca"].split()[1:5] == ["HO", "AW", "5,", "62"]
    assert len([n for n in rows if n != "mine"]) >= 81
    # a user file cannot shadow a built-in one (Hydra loads the first on the search path); say so
    assert any(line.startswith("note: ") and "openai.yaml is hidden by" in line for line in lines)


def test_afx_variations_sweep_estimate_check_json(afx_cli, tmp_path):
    sweep = afx_cli("variations", "--setting", "helpful_only", "--rows-only", "--sweep")
    names = sweep.stdout.strip().split(",")
    assert sweep.returncode == 0 and len(names) == 37 and "default" in names and "share_values" not in names
    aw = afx_cli("variations", "--setting", "animal_welfare", "--rows-only", "--sweep").stdout.strip().split(",")
    assert len(aw) == 70 and "share_values" in aw
    estimate = afx_cli("variations", "--setting", "helpful_only", "--rows-only", "--estimate", "data.limit=400")
    assert estimate.returncode == 0
    assert "helpful_only: 37 variations x 1 prefix = 37 jobs" in estimate.stdout
    assert "29,600 transcripts in all" in estimate.stdout
    check = afx_cli("variations", "--check")
    assert check.returncode == 0 and "124 variation/setting pairs compose, 0 fail" in check.stdout
    rows = [json.loads(line) for line in afx_cli("variations", "--json").stdout.splitlines()]
    reduce = next(r for r in rows if r["name"] == "reduce_af_changes")
    assert reduce["paper"]["animal_welfare"]["row"] == 108 and reduce["stack"]["animal_welfare"][2] == "cut_bfh"


def test_afx_variations_check_reports_a_broken_user_file(afx_cli, tmp_path):
    root = _user_dir(tmp_path, {"ghost_block": BAD["ghost_block"]})
    done = afx_cli("variations", "--check", _search(root))
    assert done.returncode == 1
    assert "FAIL ghost_block on animal_welfare: variation ghost_block op #1 (remove blocks.nope)" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--bogus"], "unrecognized arguments: --bogus", id="unknown_flag"),
        pytest.param(["--setting", "nope"], "--setting nope: no variation declares it", id="unknown_setting"),
        pytest.param(["stray"], "'stray' is neither an option nor a Hydra override", id="stray_word"),
        pytest.param(["data.limitt=3"], "cannot compose the config", id="bad_override"),
    ],
)
def test_afx_variations_bad_input(afx_cli, args, message):
    done = afx_cli("variations", *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("afx variations: error: ") and message in lines[0], done.stderr


def test_afx_variations_rejects_a_broken_user_file(afx_cli, tmp_path):
    root = _user_dir(tmp_path, {"headless": BAD["headless"]})
    done = afx_cli("variations", _search(root))
    assert done.returncode == 2
    assert "headless.yaml: the first line must be '# @package variation.headless'" in done.stderr
