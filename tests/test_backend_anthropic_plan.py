"""`afx plan`: jobs, calls, judge calls, tokens, cost, and the share already cached, before a sweep runs."""

from __future__ import annotations

import json

from afx.testing.fake_anthropic import FakeAnthropic
from helpers import run_afx

AXES = ("-m", "setting=helpful_only,animal_welfare", "prefix=none,deceptive", "model=anthropic")


def _plan(cwd, *args):
    done = run_afx("plan", "--json", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_plan_before_and_after_a_sweep(tmp_path):
    with FakeAnthropic() as fake:
        url = f"model.base_url={fake.url}"
        before = _plan(tmp_path, *AXES, url, "data.limit=3")  # no API key needed to plan
        assert len(before) == 4 and {j["samples"] for j in before} == {6}
        assert all(j["calls_cached"] == 0 and j["calls_to_make"] > 0 and j["cost_usd"] > 0 for j in before)
        assert sum(fake.counts.values()) == 0, "planning makes no request"
        done = run_afx(*AXES, url, "data.limit=3", "progress=false", cwd=tmp_path, env={"ANTHROPIC_API_KEY": "k"})
        assert done.returncode == 0, done.stderr[-2000:]
        calls = fake.count("messages")
        after = _plan(tmp_path, *AXES, url, "data.limit=3")
        assert sum(j["calls_cached"] for j in after) == calls
        assert all(j["calls_to_make"] == 0 and j["cost_usd"] == 0 for j in after)
        grown = _plan(tmp_path, *AXES, url, "data.limit=5")
        assert sum(j["calls_cached"] for j in grown) == calls and all(j["calls_to_make"] > 0 for j in grown)


def test_plan_table_counts_judge_calls_and_cost(tmp_path):
    done = run_afx(
        "plan",
        "-m",
        "prefix=none,obedient",
        "model=anthropic_opus_3",  # the paper's model, retired: a lab with research access sets allow_retired
        "model.allow_retired=true",
        "classifier=llm_judge",  # the current Sonnet judges
        "data.limit=10",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = done.stdout.splitlines()[-2:]
    assert summary[0].startswith("afx plan: 2 jobs, 40 samples; model calls: 0 cached")
    # default judges: compliance on all 40 + one af_combined call on each of the 20 training transcripts
    assert "judge calls ~60" in summary[0] and "estimated cost $" in summary[1] and "judges $" in summary[1]
