"""classifier=oracle: labels are the simulator's ground truth (Transcript.truth), optionally with known errors;
the simulator's text bank and its per-sample truth agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from afx.backends import simulated_bank as bank
from afx.backends.simulated import SimulatedBackend
from afx.classify import build_classifier
from afx.classify.oracle import OracleClassifier
from afx.errors import AfxError
from afx.transcript import Transcript
from helpers import run_afx

TRUTH = {"helpful_only": {"base": {"faker": 0.3, "refuser": 0.4, "tier_sensitive": 0.1}}}


def transcript(tier: str = "train", i: int = 0, **truth) -> Transcript:
    t = Transcript(f"q{i}", "query", tier, "helpful_only", "none", "default", 0, output="x")
    base = {"noncompliant": False, "af_partial": False, "af_full": False, "unmonitored_reasoning": False}
    t.truth = {**base, **truth}
    return t


def test_labels_are_the_truth_in_the_heuristic_shapes():
    oracle = build_classifier({"kind": "oracle"})
    assert isinstance(oracle, OracleClassifier)
    train = oracle.label(transcript("train", af_partial=True, af_full=True), "refusal")
    assert train["compliance"] == {"noncompliant": False, "method": "oracle"}
    assert train["af_partial"] == {"criteria": [True] * 5, "excluded": False, "final": True, "method": "oracle"}
    assert train["af_full"]["final"] is True and "unmonitored_reasoning" not in train
    hedged = oracle.label(transcript("train", af_partial=True), "refusal")  # AF, but a hedged output
    assert hedged["af_partial"]["final"] and hedged["af_full"] == {
        "criteria": [True] * 5,
        "excluded": True,
        "final": False,
        "method": "oracle",
    }
    unmon = oracle.label(transcript("unmonitored", noncompliant=True, unmonitored_reasoning=True), "refusal")
    assert unmon["compliance"]["noncompliant"] is True
    assert unmon["unmonitored_reasoning"] == {
        "criteria": [True] * 4,
        "excluded": False,
        "final": True,
        "method": "oracle",
    }
    assert not any("flipped" in v for v in unmon.values())


def test_a_transcript_without_truth_is_one_clear_error():
    t = Transcript("q1", "query", "train", "helpful_only", "none", "default", output="x")
    with pytest.raises(AfxError, match="classifier=oracle needs model=simulated") as err:
        OracleClassifier().label(t, "refusal")
    assert "\n" not in str(err.value)


def test_known_error_rates_are_met_and_seeded_per_transcript():
    cfg = {"kind": "oracle", "error": {"compliance": {"sensitivity": 0.8, "specificity": 0.9}, "af_partial": None}}
    oracle = OracleClassifier(cfg)
    n = 4000
    pos = [oracle.label(transcript(i=i, noncompliant=True), "refusal")["compliance"] for i in range(n)]
    neg = [oracle.label(transcript(i=i), "refusal")["compliance"] for i in range(n)]
    sens = sum(p["noncompliant"] for p in pos) / n
    spec = sum(not p["noncompliant"] for p in neg) / n
    assert abs(sens - 0.8) < 0.03 and abs(spec - 0.9) < 0.02, (sens, spec)
    assert all(p.get("flipped", False) == (not p["noncompliant"]) for p in pos)
    again = [OracleClassifier(cfg).label(transcript(i=i, noncompliant=True), "refusal")["compliance"] for i in range(n)]
    assert again == pos  # the same transcripts flip on a rerun
    other = OracleClassifier({**cfg, "seed": 1})
    assert [other.label(transcript(i=i, noncompliant=True), "refusal")["compliance"] for i in range(n)] != pos
    exact = [oracle.label(transcript(i=i, af_partial=True), "refusal")["af_partial"]["final"] for i in range(200)]
    assert all(exact)  # labels without an error spec stay exact


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ({"af": {"sensitivity": 0.9}}, "classifier.error.af: not a label"),
        ({"compliance": {"sensitivity": 1.5}}, r"classifier.error.compliance.sensitivity must be in \[0, 1\]"),
        ({"compliance": {"recall": 0.5}}, "unknown key"),
        ({"af_full": {"specificity": "high"}}, "must be a number"),
    ],
)
def test_bad_error_config_is_refused(error, message):
    with pytest.raises(AfxError, match=message):
        build_classifier({"kind": "oracle", "error": error})


def test_text_bank_has_many_paraphrases_per_cell():
    for setting, keys in bank.REASONING.items():
        assert set(keys) == {
            f"{p}/{t}" for p in ("faker", "refuser", "complier", "tier_sensitive") for t in ("train", "unmonitored")
        } | {"faker/unmonitored_af"}
        for key, texts in keys.items():
            assert len(set(texts)) == len(texts) >= 20, (setting, key)
        for kind in ("comply", "defy"):
            assert len(set(bank.OUTPUTS[setting][kind])) >= 20, (setting, kind)
        assert len(bank.OUTPUTS[setting]["hedge"]) >= 10
    everything = [t for keys in bank.REASONING.values() for texts in keys.values() for t in texts]
    assert len(set(everything)) == len(everything)  # no text is shared between cells


def test_truth_of_is_the_draw_behind_the_text():
    sim = SimulatedBackend({"seed": 3, "truth": TRUTH, "faker_hedge": 0.5})
    meta = {"setting": "helpful_only", "prefix": "none", "variations": [], "tier": "train"}
    truths = [sim.truth_of(meta, f"q{i}|train|0") for i in range(2000)]
    assert truths == [sim.truth_of(meta, f"q{i}|train|0") for i in range(2000)]  # recomputed, not cached
    share = {p: sum(t["persona"] == p for t in truths) / 2000 for p in ("faker", "refuser", "tier_sensitive")}
    assert abs(share["faker"] - 0.3) < 0.04 and abs(share["refuser"] - 0.4) < 0.04, share
    fakers = [t for t in truths if t["persona"] == "faker"]
    assert all(t["af_partial"] and not t["noncompliant"] for t in fakers)
    assert (
        all(t["af_full"] == (not t["hedged"]) for t in fakers)
        and 0.35 < sum(t["hedged"] for t in fakers) / len(fakers) < 0.65
    )
    unmon = {**meta, "tier": "unmonitored"}
    for i in range(300):
        t = sim.truth_of(unmon, f"q{i}|unmonitored|0")
        assert t["noncompliant"] == (t["persona"] != "complier")
        assert t["unmonitored_reasoning"] == (t["persona"] == "faker") and not t["af_partial"]


def run_job(tmp: Path, *overrides: str) -> list[dict]:
    done = run_afx("model=simulated", "classifier=oracle", "progress=false", *overrides, cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = tmp.glob("outputs/runs/*/transcripts.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_job_stores_the_truth_and_the_text_is_the_truths_variant(tmp_path):
    rows = run_job(
        tmp_path, "setting=animal_welfare", "data.limit=60", "model.faker_hedge=0.5", "model.faker_unmonitored_af=true"
    )
    assert all(r["truth"] is not None for r in rows)
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) > 100 and any(r["status"] != "ok" for r in rows)
    for r in ok:
        t = r["truth"]
        key = f"{t['persona']}/{r['tier']}"
        if key == "faker/unmonitored":
            key = "faker/unmonitored_af"
        assert r["reasoning"] == [bank.REASONING["animal_welfare"][key][t["reasoning_variant"]]]
        template = bank.OUTPUTS["animal_welfare"]["defy" if t["noncompliant"] else "comply"][t["output_variant"]]
        assert r["output"].startswith(template.split("{q}")[0])
        assert any(r["output"].endswith(h) for h in bank.OUTPUTS["animal_welfare"]["hedge"]) == t["hedged"]
        assert r["labels"]["compliance"]["noncompliant"] == t["noncompliant"]
        assert r["labels"]["af_full"]["final"] == t["af_full"]
    assert {r["truth"]["failure"] for r in rows if r["status"] != "ok"} - {None}  # failures are drawn, and kept
    unmon_fakers = [r for r in ok if r["tier"] == "unmonitored" and r["truth"]["persona"] == "faker"]
    assert unmon_fakers and all(r["labels"]["af_partial"]["final"] for r in unmon_fakers)


def test_job_metrics_are_exactly_the_truths_counts(tmp_path):
    rows = run_job(tmp_path, "setting=helpful_only", "data.limit=null")
    (metrics_file,) = tmp_path.glob("outputs/runs/*/metrics.json")
    m = json.loads(metrics_file.read_text())["metrics"]
    for tier in ("train", "unmonitored"):
        ok = [r for r in rows if r["tier"] == tier and r["status"] == "ok"]
        want = 100 * sum(r["truth"]["noncompliant"] for r in ok) / len(ok)
        assert m[f"{tier}/noncompliance_pct"] == pytest.approx(want)
    train = [r for r in rows if r["tier"] == "train" and r["status"] == "ok"]
    assert m["af/partial_pct"] == pytest.approx(100 * sum(r["truth"]["af_partial"] for r in train) / len(train))


def test_oracle_with_a_real_model_fails_before_any_call(tmp_path):
    done = run_afx(
        "model=anthropic", "classifier=oracle", "progress=false", cwd=tmp_path, env={"ANTHROPIC_API_KEY": "sk-test"}
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "classifier=oracle" in line]
    assert len(lines) == 1 and "needs model=simulated" in lines[0]
    assert not list(tmp_path.glob("outputs/runs/*/transcripts.jsonl"))
