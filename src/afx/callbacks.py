"""Hydra callback that groups a multirun's jobs under one MLflow parent run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from afx import tracking

log = logging.getLogger(__name__)


def _uri_and_root(config: DictConfig) -> tuple[str, str]:
    if not HydraConfig.initialized():  # the launcher process: interpolations like ${hydra:runtime.cwd} need it
        HydraConfig.instance().set_config(config)
    root = Path(config.hydra.runtime.cwd)
    uri = tracking.tracking_uri(root, config.tracking.get("uri"))
    artifact_root = config.tracking.get("artifact_root") or str(root / "mlruns" / "artifacts")
    return uri, artifact_root


class SweepParentCallback(Callback):
    """Creates the parent run when a multirun starts; finishes it and prints where results are at the end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        uri, artifact_root = _uri_and_root(config)
        sweep_dir = Path(config.hydra.sweep.dir)
        tracking.create_parent_run(
            uri, config.tracking.experiment, artifact_root, sweep_dir, {"afx.sweep_id": sweep_dir.name}
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        uri, _ = _uri_and_root(config)
        sweep_dir = Path(config.hydra.sweep.dir)
        parent = tracking.read_parent_run_id(sweep_dir)
        if parent:
            tracking.end_parent_run(uri, parent)
        print(f"\nafx: sweep finished. Results: {sweep_dir.resolve()} (transcripts.jsonl and metrics.json per job)")
        print(f"afx: MLflow experiment '{config.tracking.experiment}', parent run {parent}")
        print(f"afx: open the UI with:  {tracking.ui_command(uri)}")
