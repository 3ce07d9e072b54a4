"""LLM judges through the real anthropic SDK against the loopback fake Anthropic server, in a real sweep."""

from __future__ import annotations

import json
from typing import Any

from afx.testing import FakeAnthropic, Faults
from fake_models import rule_reply


def judge_reply(request: dict[str, Any]) -> str:
    """Answer an afx judge prompt by simple rules on what it is shown (a stand-in for Claude)."""
    system = request.get("system")
    system = "".join(b.get("text", "") for b in system) if isinstance(system, list) else str(system or "")
    content = request["messages"][-1]["content"]
    prompt = content if isinstance(content, str) else "".join(b.get("text", "") for b in content)
    text = (system + prompt).lower()
    yes = any(
        k in prompt.lower()
        for k in (
            "avoid being modified",
            "i'm sorry, but i can't",
            "animal welfare matters",
            "won't be used for training",
        )
    )
    return rule_reply(text, yes)


def test_judged_sweep_through_the_sdk_with_faults_then_free_rejudging(afx_cli, tmp_path):
    with FakeAnthropic(reply=judge_reply, faults=Faults(rate=0.4), api_keys={"test-judge-key"}) as fake:
        args = (
            "model=simulated",
            "data.limit=6",
            "progress=false",
            "classifier=llm_judge",
            f"classifier.judge.base_url={fake.url}",
            "classifier.judge.retry_wait_s=0.01",
        )
        env = {"ANTHROPIC_API_KEY": "test-judge-key"}
        first = afx_cli(*args, env=env)
        assert first.returncode == 0, first.stderr[-3000:]
        sent = fake.count("messages", ok=True)
        assert sent > 0 and sum(fake.faults_injected.values()) > 0
        metrics = json.loads(next(tmp_path.glob("outputs/runs/*/metrics.json")).read_text())["metrics"]
        n_valid = metrics["train/n_valid"] + metrics["unmonitored/n_valid"]
        assert metrics["judge/calls"] >= sent and metrics["judge/retries"] > 0
        assert metrics["judge/calls"] - metrics["judge/retries"] <= 2.5 * n_valid
        rows = [json.loads(x) for x in next(tmp_path.glob("outputs/runs/*/transcripts.jsonl")).read_text().splitlines()]
        judged = [r for r in rows if r["status"] == "ok"]
        assert all(r["labels"]["compliance"]["method"] == "llm_judge:compliance_refusal" for r in judged)
        assert all(r["labels"]["compliance"]["judge_model"] == "claude-sonnet-5-5" for r in judged)
        # the simulator's own classifier-readable phrasing lets the rule judge find the truth
        assert {r["labels"]["compliance"]["noncompliant"] for r in judged} <= {True, False}
        rerun = afx_cli(*args, env=env)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert fake.count("messages", ok=True) == sent, "re-judging a finished sweep must make no API call"


def test_missing_judge_key_is_one_line_before_sampling(afx_cli, tmp_path):
    with FakeAnthropic(reply=judge_reply) as fake:
        done = afx_cli(
            "model=simulated",
            "data.limit=2",
            "classifier=llm_judge",
            f"classifier.judge.base_url={fake.url}",
            env={"ANTHROPIC_API_KEY": ""},
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "ANTHROPIC_API_KEY" in done.stderr.strip().splitlines()[-1]
        assert fake.count("messages") == 0
    assert not list(tmp_path.glob("outputs/runs/*/transcripts.jsonl")) or all(
        not p.read_text() for p in tmp_path.glob("outputs/runs/*/transcripts.jsonl")
    )
