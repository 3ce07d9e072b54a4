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
    """The shipped report (held-out v2) validates the default local judge's compliance in both settings, not AF."""
    from omegaconf import OmegaConf

    from afx.classify.validation_status import label_status

    classifier = OmegaConf.to_container(compose_cfg().classifier, resolve=True)
    for setting in ("helpful_only", "animal_welfare"):
        assert label_status(classifier, "compliance", setting).validated, setting
        assert not label_status(classifier, "af_partial", setting).validated
