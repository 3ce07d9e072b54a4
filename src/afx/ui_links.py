"""Direct MLflow UI links for a finished sweep: its runs table, the compare view of its job runs, and the parent
run's summary figures.

The address is the tracking server's own for an `http(s)://` URI, else that of `mlflow ui` with its defaults
(http://127.0.0.1:5000), which the command afx prints serves. MLflow 3.17's UI opens an experiment on the page of
its global "GenAI / Model training" switch (GenAI unless the browser stored another choice), so the experiment
links carry `workflowType=machine_learning`, which selects "Model training" and its runs table.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from mlflow.tracking import MlflowClient

from afx.tracking_server import is_server

log = logging.getLogger(__name__)
UI_DEFAULT = "http://127.0.0.1:5000"  # `mlflow ui` without --host/--port
MODEL_TRAINING = "workflowType=machine_learning"


def ui_base(uri: str) -> str:
    return uri.rstrip("/") if is_server(uri) else UI_DEFAULT


def runs_url(base: str, experiment_id: str) -> str:
    return f"{base}/#/experiments/{experiment_id}/runs?{MODEL_TRAINING}"


def compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    query = urlencode({"runs": json.dumps(run_ids, separators=(",", ":")), "experiments": json.dumps([experiment_id])})
    return f"{base}/#/compare-runs?{query}"


def run_url(base: str, experiment_id: str, run_id: str, artifact_path: str = "") -> str:
    tab = f"/artifacts/{artifact_path}" if artifact_path else ""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}{tab}?{MODEL_TRAINING}"


def sweep_links(client: MlflowClient, parent_run_id: str) -> dict[str, str]:
    """{'runs', 'compare', and 'summary' (the parent run's figures) or 'parent' (no figures logged)}: URLs."""
    base = ui_base(str(client.tracking_uri))
    experiment = client.get_run(parent_run_id).info.experiment_id
    children = client.search_runs(
        [experiment],
        f"tags.mlflow.parentRunId = '{parent_run_id}'",
        order_by=["attributes.run_name ASC"],
        max_results=5000,
    )
    jobs = [r.info.run_id for r in children if r.data.tags.get("afx.kind") == "job"]
    figures = "summary" if client.list_artifacts(parent_run_id, "summary") else ""
    links = {"runs": runs_url(base, experiment)}
    if jobs:
        links["compare"] = compare_url(base, experiment, jobs)
    links["summary" if figures else "parent"] = run_url(base, experiment, parent_run_id, figures)
    return links


def print_sweep_links(client: MlflowClient, parent_run_id: str | None) -> None:
    """Print the sweep's UI links (never raises: the sweep is done whatever the store says now)."""
    if not parent_run_id:
        return
    try:
        links = sweep_links(client, parent_run_id)
    except Exception:  # noqa: BLE001 - links are a convenience
        log.warning("could not build the MLflow UI links of run %s", parent_run_id, exc_info=True)
        return
    print(f"afx: runs table:          {links['runs']}")
    if "compare" in links:
        print(f"afx: compare this sweep:  {links['compare']}")
    if "summary" in links:
        print(f"afx: summary figures:     {links['summary']}", flush=True)
    else:
        print(f"afx: sweep parent run:    {links['parent']}", flush=True)
