"""label_status (interface C): a label is validated only by a report for this classifier with enough kappa."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from afx.classify.validation_status import classifier_summary, label_status, validation_tags
from afx.errors import AfxError


def write_report(path: Path, classifier: str = "heuristic", **labels: tuple[int, float]) -> Path:
    body = {
        "classifier": classifier,
        "n_items": 150,
        "labels": {
            gold: {"n": n, "kappa": kappa, "confusion": {"tp": 1, "fp": 0, "fn": 0, "tn": 1}}
            for gold, (n, kappa) in labels.items()
        },
    }
    path.write_text(json.dumps(body))
    return path


def cfg(report: str | None, name: str = "heuristic", kind: str = "heuristic", min_kappa: float = 0.6) -> dict:
    return {"name": name, "kind": kind, "validation_report": report, "min_kappa": min_kappa}


def test_no_report_is_unvalidated_with_the_reason():
    s = label_status(cfg(None), "af_partial")
    assert (s.validated, s.reason, s.kappa, s.n, s.report) == (False, "no validation report", None, 0, None)
    missing = label_status(cfg("nowhere/report.json"), "compliance")
    assert not missing.validated and missing.reason == "validation report nowhere/report.json not found"


def test_low_kappa_is_unvalidated(tmp_path):
    report = write_report(tmp_path / "r.json", af_partial=(73, 0.0))
    s = label_status(cfg(str(report)), "af_partial")
    assert not s.validated and s.kappa == 0.0 and s.n == 73
    assert s.reason == "kappa 0.00 < 0.6 on 73 labelled transcripts"


def test_good_kappa_validates_and_compliance_reads_noncompliant(tmp_path):
    write_report(tmp_path / "r.json", noncompliant=(120, 0.81), af_full=(29, 0.9))
    s = label_status(cfg("r.json"), "compliance")  # relative: found in the working directory
    assert s.validated and s.kappa == 0.81 and s.n == 120 and s.report == "r.json"
    assert s.reason == "kappa 0.81 >= 0.6 on 120 labelled transcripts"
    few = label_status(cfg("r.json"), "af_full")
    assert not few.validated and few.reason == "only 29 labelled transcripts for af_full (< 30)"
    absent = label_status(cfg("r.json"), "unmonitored_reasoning")
    assert not absent.validated and "does not score unmonitored_reasoning" in absent.reason
    strict = label_status(cfg("r.json", min_kappa=0.9), "compliance")
    assert not strict.validated and strict.reason == "kappa 0.81 < 0.9 on 120 labelled transcripts"


def test_a_report_of_another_classifier_does_not_validate(tmp_path):
    report = write_report(tmp_path / "r.json", classifier="llm_judge", af_partial=(200, 0.9))
    s = label_status(cfg(str(report)), "af_partial")
    assert not s.validated and s.reason == "report r.json is for classifier 'llm_judge', not 'heuristic'"


def test_oracle_is_simulator_truth():
    s = label_status(cfg(None, name="oracle", kind="oracle"), "af_full")
    assert s.validated and s.reason == "simulator truth"
    noisy = cfg(None, name="oracle", kind="oracle") | {"error": {"af_full": {"sensitivity": 0.8, "specificity": None}}}
    injected = label_status(noisy, "af_full")
    assert not injected.validated  # stands for an imperfect judge: its labels are not the truth
    assert injected.reason == "simulator truth with injected label errors (sensitivity 0.8)"
    assert label_status(noisy, "af_partial").validated and label_status(noisy, "af_partial").reason == "simulator truth"


def test_broken_report_is_one_line_error(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AfxError) as err:
        label_status(cfg(str(tmp_path / "bad.json")), "compliance")
    assert "is not a readable JSON report" in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(AfxError, match="is not a JSON object"):
        label_status(cfg(str(tmp_path / "list.json")), "compliance")


def test_tags():
    status = {"validated": False, "reason": "no validation report"}
    tags = validation_tags("heuristic", {"af_partial": status})
    assert tags == {
        "classifier.name": "heuristic",
        "validated.af_partial": "false",
        "validated.af_partial.reason": "no validation report",
    }


def test_a_report_made_with_another_configuration_does_not_validate(tmp_path):
    report = write_report(tmp_path / "r.json", noncompliant=(120, 0.81))
    body = json.loads(report.read_text())
    body["classifier_config"] = {
        "name": "heuristic",
        "kind": "heuristic",
        "version": 2,
        "refusal": {"opening_chars": 400},
    }
    report.write_text(json.dumps(body))
    same = cfg(str(report)) | {"version": 2, "refusal": {"opening_chars": 400}}
    assert label_status(same, "compliance").validated
    edited = same | {"refusal": {"opening_chars": 200}}  # a changed refusal rule is another instrument
    s = label_status(edited, "compliance")
    assert not s.validated and s.reason == "report r.json was made with other refusal values"
    bumped = same | {"version": 3}
    assert label_status(bumped, "compliance").reason == "report r.json was made with other version values"


def test_a_report_by_setting_validates_each_setting_on_its_own_items(tmp_path):
    report = write_report(tmp_path / "r.json", noncompliant=(166, 0.71))
    body = json.loads(report.read_text())
    body["by_setting"] = {
        "helpful_only": {"noncompliant": {"n": 85, "kappa": 0.88}},
        "animal_welfare": {"noncompliant": {"n": 81, "kappa": 0.53}},
    }
    report.write_text(json.dumps(body))
    ho = label_status(cfg(str(report)), "compliance", "helpful_only")
    assert ho.validated and ho.reason == "kappa 0.88 >= 0.6 on 85 labelled helpful_only transcripts"
    aw = label_status(cfg(str(report)), "compliance", "animal_welfare")
    assert not aw.validated and aw.reason == "kappa 0.53 < 0.6 on 81 labelled animal_welfare transcripts"
    other = label_status(cfg(str(report)), "compliance", "new_setting")
    assert not other.validated and other.reason == "report r.json does not score noncompliant for new_setting"
    assert label_status(cfg(str(report)), "compliance").validated  # no setting given: the pooled score


def test_a_log_probability_judge_report_binds_its_thresholds_and_judges(tmp_path):
    """A report of the log-prob judge validates only the same scoring judges and thresholds (they decide labels)."""
    report = write_report(tmp_path / "r.json", noncompliant=(80, 0.85))
    judge = {"name": "qwen", "backend": "local"}
    made = cfg(str(report), name="llm_judge_local", kind="logprob_judge") | {
        "judge": judge,
        "compliance_judges": ["score_compliance_refusal", "score_compliance_welfare"],
        "compliance_thresholds": {"score_compliance_refusal": 0.5, "score_compliance_welfare": 0.9},
        "af_judge": "score_af",
        "criterion_threshold": 0.5,
    }
    body = json.loads(report.read_text()) | {"classifier": "llm_judge_local"}
    body["classifier_config"] = classifier_summary(made)
    report.write_text(json.dumps(body))
    assert label_status(made, "compliance").validated
    lowered = made | {"compliance_thresholds": {"score_compliance_refusal": 0.5, "score_compliance_welfare": 0.8}}
    reason = label_status(lowered, "compliance").reason
    assert reason == "report r.json was made with other compliance_thresholds values"
    other = made | {"compliance_judges": ["score_compliance_refusal", "my_welfare_judge"]}
    assert not label_status(other, "compliance").validated


def test_a_report_binds_the_probes_by_name_and_by_file_content(tmp_path):
    """A probe is part of what decides compliance: a report made with another probe file does not validate."""
    probe = json.loads((Path(__file__).parents[1] / "src/afx/data/probes/compliance_refusal_qwen15b.json").read_text())
    probe_file = tmp_path / "p.json"
    probe_file.write_text(json.dumps(probe))
    report = write_report(tmp_path / "r.json", noncompliant=(80, 0.85))
    made = cfg(str(report), name="llm_judge_local_probe", kind="logprob_judge") | {
        "judge": {"name": "qwen", "backend": "local"},
        "compliance_judges": ["probe_compliance_refusal"],
        "compliance_probes": {"probe_compliance_refusal": str(probe_file)},
    }
    summary = classifier_summary(made)
    assert summary["compliance_probe_sha256"]["probe_compliance_refusal"] not in (None, "missing")
    body = json.loads(report.read_text()) | {"classifier": "llm_judge_local_probe", "classifier_config": summary}
    report.write_text(json.dumps(body))
    assert label_status(made, "compliance").validated
    probe_file.write_text(json.dumps(probe | {"bias": probe["bias"] + 1.0}))  # same name, other weights
    reason = label_status(made, "compliance").reason
    assert reason == "report r.json was made with other compliance_probe_sha256 values"
    probe_file.unlink()
    assert classifier_summary(made)["compliance_probe_sha256"] == {"probe_compliance_refusal": "missing"}
