"""MLflow: the only module that talks to it. One run per job; a parent run per multirun."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from afx import parent_watch, redact, run_owner, tracking_server
from afx.errors import AfxError, one_line

log = logging.getLogger(__name__)
PARENT_FILE = "mlflow_parent_run_id"
MAX_PARAM_CHARS = 250


def tracking_uri(root: str | Path, configured: str | None = None) -> str:
    """MLFLOW_TRACKING_URI if set, else the configured URI, else a SQLite store inside <root>/mlruns."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if configured:
        return configured
    path = Path(root) / "mlruns"
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'mlflow.db'}"


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///") or uri.rstrip("/").endswith(":memory:"):
        return None
    return Path(uri[len("sqlite:///") :])


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """An exclusive lock on `<db>.lock` next to a SQLite store (a no-op for other stores): two processes opening
    a fresh store at once would both run MLflow's schema migration ("duplicate column name")."""
    path = _sqlite_file(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def client(uri: str) -> MlflowClient:
    """An MlflowClient; creating or upgrading a SQLite store (done when the client opens it) is serialised."""
    with store_lock(uri):
        return MlflowClient(uri)


def redact_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Tags with secret keys' values redacted and secret-shaped text scrubbed."""
    values = redact.secret_values()
    secret = redact.is_secret_key
    return {k: redact.REDACTED if secret(k) else redact.scrub_text(str(v), values) for k, v in tags.items()}


def ui_command(uri: str) -> str:
    """How to open the runs of `uri` in the MLflow UI: a tracking server serves its own UI at its address."""
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}  (the tracking server's own UI)"
    return f"mlflow ui --backend-store-uri {uri}"


def experiment_id(client: MlflowClient, name: str, artifact_root: str | Path) -> str:
    """The experiment's id, created if needed (`afx.tracking_server`: artifacts under `artifact_root` for a local
    store, uploaded through a tracking server otherwise; tagged so the MLflow UI shows its runs table)."""
    return tracking_server.ensure_experiment(client, name, artifact_root)


def flatten(tree: Any, prefix: str = "", values: frozenset[str] | None = None) -> dict[str, str]:
    """Dotted keys to strings; long text becomes its sha256 (the full text is an artifact); secrets never pass
    (`afx.redact`: secret-shaped keys are `<redacted>`, secret values scrubbed from text)."""
    if values is None:
        values = frozenset(redact.secret_values(tree))
    out: dict[str, str] = {}
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if redact.is_secret_key(key):
                out[name] = redact.REDACTED
                continue
            out.update(flatten(value, name, values))
        return out
    text = redact.redact_override(str(tree), values) if isinstance(tree, str) else str(tree)
    if len(text) > MAX_PARAM_CHARS:
        text = "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    out[prefix] = text
    return out


class JobRun:
    """One MLflow run for one job, created without the fluent API (safe across jobs in one process)."""

    def __init__(
        self,
        uri: str,
        experiment: str,
        artifact_root: str | Path,
        run_name: str,
        tags: Mapping[str, str],
        parent_run_id: str | None = None,
        liveness: run_owner.Liveness | Mapping[str, Any] | None = None,
    ) -> None:
        self.uri = uri
        liveness = run_owner.liveness(liveness)
        all_tags = {**tags, **run_owner.owner_tags()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        try:
            self.client = client(uri)
            self.experiment_id = experiment_id(self.client, experiment, artifact_root)
            run_owner.close_stale_runs(self.client, experiment, liveness)
            self.run_id = self.client.create_run(
                self.experiment_id, run_name=run_name, tags=redact_tags(all_tags)
            ).info.run_id
            run_owner.Heartbeat(self.client, self.run_id, liveness.interval_s)
        except AfxError:  # e.g. afx.tracking_server: an experiment whose artifacts would stay on this machine
            raise
        except Exception as exc:  # noqa: BLE001 - any store failure here means nothing can be logged
            raise AfxError(
                f"MLflow store {uri} is not usable ({one_line(str(exc))[:300]}); "
                "check the path / server or set MLFLOW_TRACKING_URI"
            ) from exc

    def log_params(self, params: Mapping[str, str]) -> None:
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        items = [Metric(k, float(v), 0, 0) for k, v in metrics.items()]
        for i in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[i : i + 500])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in redact_tags(tags).items()])

    def log_artifact(self, path: str | Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def end(self, status: str = "FINISHED") -> None:
        if parent_watch.ORPHANED.is_set():  # the launcher died: the watch closes this run KILLED, never FINISHED
            return
        run_owner.stop_heartbeat(self.run_id)
        self.client.set_terminated(self.run_id, status)


def create_parent_run(
    uri: str,
    experiment: str,
    artifact_root: str | Path,
    sweep_dir: Path,
    tags: Mapping[str, str],
    liveness: run_owner.Liveness | Mapping[str, Any] | None = None,
) -> str:
    """The multirun's parent run; its id is written into the sweep dir for the jobs to find."""
    liveness = run_owner.liveness(liveness)
    store = client(uri)
    exp = experiment_id(store, experiment, artifact_root)
    run_owner.close_stale_runs(store, experiment, liveness)
    all_tags = redact_tags({**tags, **run_owner.owner_tags(), "afx.kind": "sweep"})
    run = store.create_run(exp, run_name=f"sweep {sweep_dir.name}", tags=all_tags)
    run_owner.Heartbeat(store, run.info.run_id, liveness.interval_s)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / PARENT_FILE).write_text(run.info.run_id)
    return run.info.run_id


def read_parent_run_id(sweep_dir: Path) -> str | None:
    path = sweep_dir / PARENT_FILE
    return path.read_text().strip() if path.is_file() else None


def end_parent_run(uri: str, run_id: str, status: str = "FINISHED") -> None:
    run_owner.stop_heartbeat(run_id)
    client(uri).set_terminated(run_id, status)
