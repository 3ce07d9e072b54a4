"""The default classifier follows the model (issue 14 section 2): a real local run judges with the log-prob judge."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ((), "llm_judge_local_probe"),  # the embedded 1.5B model: the offline judge's probes label compliance
        (("model=local_small",), "heuristic"),  # the 0.5B plumbing/test model keeps the fast keyword rules
        (("model=simulated",), "heuristic"),  # simulated text: the heuristic (or oracle) is the instrument
        (("model=anthropic",), "heuristic"),
        (("classifier=heuristic",), "heuristic"),  # the command line still wins
        (("model=local_small", "classifier=llm_judge_local"), "llm_judge_local"),
    ],
)
def test_default_classifier_depends_on_the_model(compose_cfg, overrides, expected):
    cfg = compose_cfg(*overrides)
    assert cfg.classifier.name == expected


def test_the_local_default_judge_is_the_embedded_model_and_scores(compose_cfg):
    cfg = compose_cfg()
    assert cfg.classifier.kind == "logprob_judge"
    assert cfg.classifier.judge.backend == "local" and cfg.classifier.judge.name == cfg.model.name
    assert cfg.classifier.validation_report  # its labels are checked against a shipped validation report


def test_the_local_default_has_validated_compliance_and_unvalidated_af(compose_cfg):
    """The shipped report (held-out v4) validates the default local judge's compliance in both settings, not AF."""
    from omegaconf import OmegaConf

    from afx.classify.validation_status import label_status

    classifier = OmegaConf.to_container(compose_cfg().classifier, resolve=True)
    for setting in ("helpful_only", "animal_welfare"):
        assert label_status(classifier, "compliance", setting).validated, setting
        assert not label_status(classifier, "af_partial", setting).validated


def test_the_default_probes_were_never_fitted_on_the_file_that_validates_them(compose_cfg):
    """The shipped report is made on a held-out file: no probe of the default local judge was trained on it, and
    the files each probe records are the shipped files, unchanged since it was fitted (same sha256)."""
    import hashlib

    from omegaconf import OmegaConf

    from afx.classify.probe import load_probe
    from afx.classify.validation_status import load_report, resolve_report
    from afx.paths import data_dir

    classifier = OmegaConf.to_container(compose_cfg().classifier, resolve=True)
    report = load_report(resolve_report(classifier["validation_report"]))
    held_out = report["file"].rsplit("/", 1)[-1]
    probes = [load_probe(name) for name in classifier["compliance_probes"].values() if name]
    assert len(probes) == 2
    for probe in probes:
        trained = {f["file"]: f["sha256"] for f in probe.raw["trained_on"]}
        assert held_out not in trained, probe.name
        for name, sha in trained.items():
            assert hashlib.sha256((data_dir() / "labelled" / name).read_bytes()).hexdigest() == sha, (probe.name, name)
