"""The four experiment configs pin the sweep each figure needs, and the summary callback is registered."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf

from afx.errors import AfxError
from afx.job import build_job_spec
from afx.paths import conf_dir
from afx_summary import SummaryCallback

SETTINGS = ("helpful_only", "animal_welfare")
EXPECTED = {
    "fig13": {"setting": "helpful_only,animal_welfare", "prefix": "none,deceptive,obedient", "variation": "default"},
    "fig15": {"setting": "helpful_only,animal_welfare", "prefix": "none", "variation": "default"},
    "fig16": {"setting": "helpful_only,animal_welfare", "prefix": "none", "variation": "default"},
}


def composed(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.mark.parametrize("name", ["fig13", "fig14", "fig15", "fig16"])
def test_experiment_file_header_command_and_sweep(name):
    path = conf_dir() / "experiment" / f"{name}.yaml"
    first, second = path.read_text().splitlines()[:2]
    assert first == "# @package _global_"  # Hydra reads the header only before any other line
    assert second == f"# python -m afx -m +experiment={name}"
    cfg = composed(f"+experiment={name}")
    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    if name in EXPECTED:
        assert params == EXPECTED[name]
    else:
        assert params["setting"] == "helpful_only,animal_welfare" and params["prefix"] == "none"
        assert params["variation"].startswith("glob(*")
    assert cfg.data.limit is None  # figures use every query unless the user asks for fewer


def applies(setting: str, variation: str) -> bool:
    cfg = composed(f"setting={setting}", f"variation={variation}", "model=simulated")
    try:
        build_job_spec(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), load_data=False)
    except AfxError as exc:
        assert "does not apply to setting" in str(exc)
        return False
    return True


def test_fig14_sweeps_every_variation_but_the_protocol_one():
    """Inapplicable (setting, variation) jobs are skipped in a multirun, so the glob takes every file but the
    accept/reject protocol, which changes what compliance means."""
    names = sorted(p.stem for p in (conf_dir() / "variation").glob("*.yaml"))
    cfg = composed("+experiment=fig14")
    glob = OverridesParser.create().parse_override(f"variation={cfg.hydra.sweeper.params.variation}").value()
    swept = set(glob.filter(names))
    assert swept == set(names) - {"accept_reject"}
    for setting in SETTINGS:  # every setting keeps the default and most of the library
        assert "default" in swept and sum(applies(setting, n) for n in swept) >= 35


def test_summary_callback_is_registered_after_the_parent_run_callback():
    cfg = composed()
    callbacks = cfg.hydra.callbacks
    assert list(callbacks) == ["sweep_parent", "summary"]  # end hooks run in reverse: summary before the parent closes
    callback = instantiate(callbacks.summary)
    assert isinstance(callback, SummaryCallback) and callback.enabled
    assert callback.settings["bootstrap"] == "variations" and callback.settings["paper_overlay"] is False
