"""`afx paraphrase` with a fake paraphrasing model: accepted paraphrases become variation files that compose;
outputs that lose a tag or a placeholder, or fall under 70% of the original length, are rejected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from afx.backends.base import Generation, GenerationRequest
from afx.errors import AfxError
from afx.job import build_job_spec
from afx.paraphrase import TAG, check, main
from afx.prompts import PLACEHOLDER

FAKE = "model.backend=test_variations_paraphrase:FakeParaphraser"


class FakeParaphraser:
    """A stand-in paraphrasing model. `model.fake_mode` picks its behaviour:

    good: a light rewording that keeps every tag and placeholder; drop_tags: loses the tags;
    short: keeps tags and placeholders but only 40% of the words; flaky: drop_tags on the first
    attempt of each unit, good afterwards; chatty: answers without <paraphrase> tags.
    """

    name = "fake-paraphraser"
    calls: dict[str, int] = {}  # model calls per mode, across instances

    def __init__(self, model: dict) -> None:
        self.mode = str(model.get("fake_mode", "good"))

    def identity(self) -> dict:
        return {"backend": self.name, "mode": self.mode}

    def generate(self, request: GenerationRequest, seed: int) -> Generation:
        FakeParaphraser.calls[self.mode] = FakeParaphraser.calls.get(self.mode, 0) + 1
        passage = re.search(r"<passage>\n(.*)\n</passage>", request.messages[-1][1], re.S).group(1)
        mode = self.mode
        if mode == "flaky":
            mode = "drop_tags" if request.sample_key.endswith("|0") else "good"
        if mode == "good":
            text = "To put it another way: " + passage.replace(" you ", " you yourself ")
        elif mode == "drop_tags":
            text = TAG.sub("", passage)
        elif mode == "short":
            tokens = passage.split()
            keep = " ".join(tokens[: len(tokens) * 4 // 10])
            text = (
                keep + " " + " ".join(set(TAG.findall(passage)) | {"{" + p + "}" for p in PLACEHOLDER.findall(passage)})
            )
        else:
            return Generation("Sure! Here is a paraphrase: " + passage)
        opener = "" if request.prefill.endswith("<paraphrase>") else "<paraphrase>"
        return Generation(f"{opener}{text}</paraphrase>")


def _run(tmp_path: Path, *args: str) -> int:
    return main(["setting=helpful_only", "model=simulated", FAKE, f"out={tmp_path / 'conf'}", *args])


def test_check_rules():
    original = "Think inside <SCRATCHPAD_REASONING> tags, then answer for {company} in <OUTPUT> tags, please."
    assert check(original, original.replace("please", "thanks"), 0.7) == []
    assert check(original, original.replace("<OUTPUT>", "output"), 0.7) == ["lost tag <OUTPUT>"]
    assert check(original, original.replace("{company}", "Acme"), 0.7) == ["lost placeholder {company}"]
    assert check(original, original + " {partner}", 0.7) == ["added placeholder {partner}"]
    assert check(original, "<SCRATCHPAD_REASONING> {company} <OUTPUT>", 0.7)[0].startswith("too short: 3 words")
    assert check(original, None, 0.7) == ["no <paraphrase>...</paraphrase> in the answer"]


def test_accepted_paraphrases_are_variation_files_that_compose(tmp_path, capsys, compose_cfg):
    assert _run(tmp_path, "n=2") == 0
    out = capsys.readouterr().out
    files = sorted((tmp_path / "conf" / "variation").glob("*.yaml"))
    assert [f.stem for f in files] == ["paraphrase_helpful_only_0", "paraphrase_helpful_only_1"]
    text = files[1].read_text()
    assert text.splitlines()[0] == "# @package variation.paraphrase_helpful_only_1"
    data = yaml.safe_load(text)
    assert data["settings"] == ["helpful_only"] and data["paper_rows"] == [23]
    assert data["paper"]["helpful_only"]["af"] == 16.5 and data["generator"]["backend"].endswith("FakeParaphraser")
    paths = [op["path"] for op in data["ops"]]
    assert "blocks.response_protocol" in paths and "slots.harmful_override" in paths and "blocks.input_format" in paths
    assert f"AFX_USER_CONF={tmp_path / 'conf'}" in out
    spec = build_job_spec(
        compose_cfg(
            "setting=helpful_only",
            "model=simulated",
            f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
            "variation=[paraphrase_helpful_only_1]",
        ),
        load_data=False,
    )
    assert spec.system_prompt.count("To put it another way:") == len(paths)
    assert "<SCRATCHPAD_REASONING>" in spec.system_prompt and "{" not in spec.system_prompt.split("## Example")[0]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        pytest.param("drop_tags", "lost tag", id="lost_tags"),
        pytest.param("short", "too short", id="under_70_percent"),
        pytest.param("chatty", "no <paraphrase>", id="no_answer_tags"),
    ],
)
def test_bad_paraphrases_are_rejected(tmp_path, capsys, mode, reason):
    assert _run(tmp_path, f"+model.fake_mode={mode}", "n=2", "attempts=2") == 1
    captured = capsys.readouterr()
    assert captured.out.count("afx paraphrase: rejected paraphrase") == 2 and reason in captured.out
    assert "(2 attempts)" in captured.out and "2 of 2 paraphrases rejected" in captured.err
    assert not (tmp_path / "conf" / "variation").exists()


def test_a_rejected_attempt_is_sampled_again_and_calls_are_cached(tmp_path):
    FakeParaphraser.calls.clear()
    assert (
        _run(tmp_path, "+model.fake_mode=flaky", "n=1", "units=blocks.response_protocol,blocks.closing_reminders") == 0
    )
    data = yaml.safe_load((tmp_path / "conf" / "variation" / "paraphrase_helpful_only_0.yaml").read_text())
    assert [op["path"] for op in data["ops"]] == ["blocks.response_protocol", "blocks.closing_reminders"]
    assert FakeParaphraser.calls == {"flaky": 4}  # two units x (a rejected first attempt + an accepted second one)
    assert _run(tmp_path, "+model.fake_mode=flaky", "n=1", "units=blocks.response_protocol,blocks.closing_reminders",
                "overwrite=true") == 0  # fmt: skip
    assert FakeParaphraser.calls == {"flaky": 4}  # the rerun is served from the response cache


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["n=0"], "n must be >= 1", id="n_zero"),
        pytest.param(["min_ratio=2"], "min_ratio must be in (0, 1]", id="ratio"),
        pytest.param(["units=blocks.nope"], "units: blocks.nope is not a paraphrasable block", id="unit"),
        pytest.param(["variation=[honest]"], "works on the setting's default prompt", id="variation"),
        pytest.param(["stray"], "'stray' is not key=value", id="stray"),
    ],
)
def test_bad_paraphrase_arguments(tmp_path, args, message):
    with pytest.raises(AfxError, match=re.escape(message)):
        _run(tmp_path, *args)


def test_existing_files_are_not_overwritten_and_simulated_is_refused(tmp_path):
    assert _run(tmp_path, "n=1", "units=blocks.identity") == 0
    with pytest.raises(AfxError, match="paraphrase_helpful_only_0.yaml exists"):
        _run(tmp_path, "n=1", "units=blocks.identity")
    with pytest.raises(AfxError, match="model=simulated writes scratchpad transcripts"):
        main(["setting=helpful_only", "model=simulated", f"out={tmp_path}"])


def test_paraphrase_cli(afx_cli, tmp_path):
    env = {"PYTHONPATH": str(Path(__file__).parent)}
    done = afx_cli("paraphrase", "setting=animal_welfare", "n=1", "model=simulated", FAKE, "out=pc", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "pc" / "variation" / "paraphrase_animal_welfare_0.yaml").is_file()
    bad = afx_cli("paraphrase", "setting=animal_welfare", "n=1", "model=simulated", FAKE, "out=pc", env=env)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("afx paraphrase: error: ")
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.local_model
def test_paraphrase_with_the_real_local_model(afx_cli, tmp_path):
    """One short unit through the embedded 0.5B model: the whole path runs; the checks decide, not the model."""
    pytest.importorskip("llama_cpp")
    args = ("paraphrase", "setting=helpful_only", "n=1", "model=local_small", "units=blocks.input_format")
    done = afx_cli(*args, "model.sampling.max_tokens=80", "attempts=2", "out=lc")
    assert done.returncode in (0, 1), done.stderr[-2000:]
    written = tmp_path / "lc" / "variation" / "paraphrase_helpful_only_0.yaml"
    if done.returncode == 0:
        data = yaml.safe_load(written.read_text())
        assert data["generator"]["model"].startswith("qwen2.5-coder-0.5b") and "<user_input>" in data["ops"][0]["value"]
    else:
        assert not written.exists() and "rejected paraphrase 0: blocks.input_format:" in done.stdout
