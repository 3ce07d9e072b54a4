"""The MLflow experiment afx logs to: its files reachable from every machine, and its runs table shown first.

Against a tracking server (an `http(s)://` tracking URI) the experiment must keep its artifacts where the server
can hand them out: `mlflow-artifacts:` (uploaded through the server: `mlflow server --serve-artifacts`, MLflow 3's
default) or a shared object store (`s3://`, `gs://`, ...). A local path (`file://...` or a bare path) is a folder on
one machine: transcripts, figures and the viewer would be written there and every other machine's links would
break. Such an experiment, or a server that does not proxy artifacts, is one line (`afx: error: ...`, exit 2),
checked by `preflight` before Hydra starts and again when a job opens the experiment.

Every experiment afx logs to is tagged `mlflow.experimentKind=custom_model_development` (MLflow's value for
"Machine learning" experiments; see docs/scale.md for what MLflow 3.17's UI does with it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlflow.entities import Experiment
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from afx.errors import AfxError

KIND_TAG = "mlflow.experimentKind"
KIND_MODEL_DEVELOPMENT = "custom_model_development"
PROXY_PROBE = "/api/2.0/mlflow-artifacts/artifacts"
EXPERIMENT_BY_NAME = "/api/2.0/mlflow/experiments/get-by-name"
_checked: set[tuple[str, str]] = set()


def is_server(uri: str) -> bool:
    """A tracking server (REST over http/https), not a store this process opens itself."""
    return urlsplit(str(uri)).scheme in ("http", "https")


def is_remote(uri: str) -> bool:
    """A store on another machine that keeps its own artifact root (a tracking server, Databricks)."""
    return is_server(uri) or str(uri).split(":", 1)[0] in ("databricks", "databricks-uc")


def is_local_location(location: str) -> bool:
    """An artifact location that is a path on the machine that writes it (`file:`, a bare or Windows path)."""
    scheme = urlsplit(str(location)).scheme
    return scheme in ("", "file") or len(scheme) == 1


def local_location_error(uri: str, name: str, location: str) -> AfxError:
    return AfxError(
        f"MLflow experiment '{name}' on {uri} keeps its artifacts at {location}, a folder on one machine, so "
        "transcripts, figures and the viewer would not reach the server; log to a new experiment, which afx "
        f"creates with artifacts uploaded through the server: tracking.experiment={name}-shared"
    )


def no_proxy_error(uri: str) -> AfxError:
    return AfxError(
        f"the MLflow server {uri} does not serve artifacts (started with --no-serve-artifacts), so transcripts, "
        "figures and the viewer would stay on this machine; restart it with --serve-artifacts (MLflow's default) "
        "and --artifacts-destination DIR, e.g. `make mlflow-server`"
    )


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str | Path) -> str:
    """The experiment's id, created if needed and tagged as model development.

    A local store: artifacts under `artifact_root`. A tracking server: created without a location, so the server
    chooses (`mlflow-artifacts:/<id>` when it proxies); a local-path location there is an AfxError.
    """
    uri = str(client.tracking_uri)
    server = is_remote(uri)
    found = client.get_experiment_by_name(name)
    created = found is None
    if found is None:
        found = _create(client, name, artifact_root, server)
    if server and is_local_location(found.artifact_location):
        if created:  # the server's default artifact root is a path on the server's disk
            raise no_proxy_error(uri)
        raise local_location_error(uri, name, found.artifact_location)
    if KIND_TAG not in found.tags:
        client.set_experiment_tag(found.experiment_id, KIND_TAG, KIND_MODEL_DEVELOPMENT)
    return found.experiment_id


def _create(client: MlflowClient, name: str, artifact_root: str | Path, server: bool) -> Experiment:
    tags = {KIND_TAG: KIND_MODEL_DEVELOPMENT}
    try:
        if server:
            new_id = client.create_experiment(name, tags=tags)
        else:
            Path(artifact_root).mkdir(parents=True, exist_ok=True)
            location = Path(artifact_root).resolve().as_uri()
            new_id = client.create_experiment(name, artifact_location=location, tags=tags)
        return client.get_experiment(new_id)
    except Exception:  # noqa: BLE001 - another process created it first
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found


def _get(uri: str, endpoint: str, params: dict[str, str], timeout_s: float) -> tuple[int, str] | None:
    """One GET to the server (MLflow's own credentials: MLFLOW_TRACKING_TOKEN / _USERNAME ...); None if it fails."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    try:
        response = http_request(
            get_default_host_creds(uri),
            endpoint,
            "GET",
            max_retries=0,
            timeout=timeout_s,
            raise_on_status=False,
            params=params,
        )
    except Exception:  # noqa: BLE001 - unreachable: preflight's reach check says so in its own line
        return None
    return response.status_code, response.text


def check_server(uri: str, experiment: str, timeout_s: float = 3.0) -> None:
    """Before any job: the server proxies artifacts, or the experiment already lives in a shared object store;
    an existing experiment's artifacts are not a local path. AfxError otherwise; silent if unreachable."""
    key = (uri, experiment)
    if not is_server(uri) or key in _checked:
        return
    answer = _get(uri, EXPERIMENT_BY_NAME, {"experiment_name": experiment}, timeout_s)
    if answer is None:
        return
    status, text = answer
    location = None
    if status == 200:
        location = json.loads(text).get("experiment", {}).get("artifact_location", "")
        if is_local_location(location):
            raise local_location_error(uri, experiment, location)
    if location is None or urlsplit(location).scheme in ("mlflow-artifacts", "http", "https"):
        probe = _get(uri, PROXY_PROBE, {"path": "afx-preflight"}, timeout_s)
        if probe is not None and probe[0] == 503 and "serve-artifacts" in probe[1]:
            raise no_proxy_error(uri)
    _checked.add(key)


def preflight(cfg: Any) -> None:
    """`check_server` for one composed job config (MLFLOW_TRACKING_URI, else tracking.uri); honours
    preflight.reach and preflight.timeout_s."""
    if not bool(OmegaConf.select(cfg, "preflight.reach", default=True)):
        return
    uri = os.environ.get("MLFLOW_TRACKING_URI") or OmegaConf.select(cfg, "tracking.uri", default=None)
    if uri:
        experiment = str(OmegaConf.select(cfg, "tracking.experiment", default="afx"))
        check_server(str(uri), experiment, float(OmegaConf.select(cfg, "preflight.timeout_s", default=3.0)))
