"""Shared fixtures: composed configs, a clean working dir per test, and a subprocess runner for the CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from afx.paths import conf_dir
from helpers import run_afx


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs in its own directory with no tracking server or API key from outside."""
    monkeypatch.chdir(tmp_path)
    for var in ("MLFLOW_TRACKING_URI", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    yield
    GlobalHydra.instance().clear()


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    """Compose the real config with overrides, as a job would see it (hydra node removed)."""

    def _compose(*overrides: str) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
            HydraConfig.instance().set_config(cfg)
        return OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])

    return _compose


@pytest.fixture
def afx_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run_afx(*args, cwd=tmp_path, env=env, timeout=timeout)

    return _run
