"""Bad input: one clear line naming the key and the allowed values, exit code 2, no traceback, no model call."""

from __future__ import annotations

import pytest

CASES = [
    pytest.param(
        ["setting=nope"],
        "unknown option 'nope' for 'setting' (choose from: animal_welfare, helpful_only)",
        id="unknown_setting",
    ),
    pytest.param(["-m", "setting=helpful_only,nope"], "unknown option 'nope' for 'setting'", id="unknown_in_sweep"),
    pytest.param(["prefix=sneaky"], "(choose from: deceptive, none, obedient)", id="unknown_prefix"),
    pytest.param(
        ["model.sampling.max_tokenz=3"],
        "unknown config key 'model.sampling.max_tokenz' (keys at 'model.sampling': temperature, max_tokens",
        id="unknown_key",
    ),
    pytest.param(["model.name=???"], "missing value for 'model.name'", id="missing_value"),
    pytest.param(["data.limit=0"], "data.limit must be a positive integer or null", id="bad_limit"),
    pytest.param(["setting.tier_cue.mode=sometimes"], "tier_cue.mode='sometimes' is not one of", id="bad_cue_mode"),
    pytest.param(
        ["prefix.continuation=later", "prefix=deceptive"], "prefix continuation must be one of", id="bad_continuation"
    ),
]


@pytest.mark.parametrize(("args", "message"), CASES)
def test_one_line_error_and_exit_2(afx_cli, tmp_path, args, message):
    done = afx_cli(*args, "model=simulated")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("afx: error: "), done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr and not (tmp_path / "outputs").exists()


def test_broken_yaml_and_bad_anchor_in_a_user_config_dir(afx_cli, tmp_path):
    user = tmp_path / "user_conf" / "variation"
    user.mkdir(parents=True)
    (user / "broken.yaml").write_text("# @package variation.broken\nname: broken\nops: [oops\n")
    (user / "mine.yaml").write_text(
        "# @package variation.mine\nname: mine\nops:\n"
        "  - {op: replace_text, path: blocks.identity, old: no such sentence, new: x}\n"
    )
    search = f"hydra.searchpath=[file://{tmp_path / 'user_conf'}]"
    broken = afx_cli(search, "variation=[broken]", "model=simulated")
    assert broken.returncode == 2 and "broken YAML in " in broken.stderr and "broken.yaml line 3" in broken.stderr
    anchor = afx_cli(search, "variation=[mine]", "model=simulated")
    assert anchor.returncode == 2
    assert "variation mine op #1 (replace_text blocks.identity): anchor text not found" in anchor.stderr


def test_errors_inside_a_job_are_one_line_too(afx_cli, tmp_path):
    done = afx_cli("model=local", "model.path=/nonexistent/model.gguf", "data.limit=1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "afx: error: model.path /nonexistent/model.gguf does not exist"
    assert "Traceback" not in done.stderr


def test_console_script_is_the_same_app(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("afx")
    assert script.exists(), "the afx console script is installed with the package"
    done = subprocess.run(
        [str(script), "setting=nope", "model=simulated"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "afx: error: unknown option 'nope' for 'setting' (choose from: animal_welfare, helpful_only)"
    )
    ok = subprocess.run(
        [str(script), "model=simulated", "data.limit=1", "progress=false"], cwd=tmp_path, capture_output=True, text=True
    )
    assert ok.returncode == 0 and "afx: helpful_only/none/default" in ok.stdout


def test_glob_sweeps_are_validated_too(afx_cli):
    none = afx_cli("-m", "variation=glob(zzz*)", "model=simulated")
    assert none.returncode == 2 and "selects no option" in none.stderr
    single = afx_cli("setting=helpful_only", "variation=[cut_bfh]", "model=simulated")
    assert single.returncode == 2 and "does not apply to setting 'helpful_only'" in single.stderr
    swept = afx_cli(
        "-m",
        "setting=helpful_only,animal_welfare",
        "variation=glob(cut_bfh)",
        "model=simulated",
        "data.limit=1",
        "progress=false",
    )
    assert swept.returncode == 0, swept.stderr[-2000:]
    assert "afx: skipped this job: variation cut_bfh: does not apply to setting 'helpful_only'" in swept.stdout
    assert "afx: animal_welfare/none/cut_bfh " in swept.stdout
