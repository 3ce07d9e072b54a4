"""All MLflow I/O of the summary plugin (the only module here that imports mlflow).

Reads: job runs (tags, logged metrics, `na.*` tags, the variation files' `paper:` numbers from params) into
polars, and every run's `transcripts.jsonl` artifact into one frame of per-transcript labels.
Writes: the summary's files, metrics and tags to the sweep's parent run or to a new summary run.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import polars as pl
from mlflow.entities import Metric, Run, RunTag
from mlflow.tracking import MlflowClient

from afx.errors import AfxError

from .analysis import CONDITION, LABELS, METRIC_LABELS, TRANSCRIPT_SCHEMA

log = logging.getLogger(__name__)
JOB_FILTER = "tags.`afx.kind` = 'job'"
TRANSCRIPTS = "transcripts.jsonl"
PAPER_FIELDS = ("row", "af", "af_se", "gap", "gap_se", "train", "train_se", "unmonitored", "unmonitored_se", "n")
# what the transcripts reader keeps of each JSON line; everything else (turns, reasoning...) is skipped
_FLAG = pl.Struct({"final": pl.Boolean, "noncompliant": pl.Boolean})
READ_SCHEMA = {
    "tier": pl.String,
    "status": pl.String,
    "labels": pl.Struct({"compliance": _FLAG, "af_partial": _FLAG, "af_full": _FLAG, "unmonitored_reasoning": _FLAG}),
}
# transcript column -> entry of the transcript's `labels` (compliance is stored as `noncompliant`)
_LABEL_KEYS = {label: "compliance" if label == "noncompliant" else label for label in LABELS}


@dataclass
class Selection:
    """Which job runs to summarise: any combination, ANDed (MLflow filters have no OR)."""

    uri: str
    experiment: str | None = "afx"
    sweep_id: str | None = None
    parent_run_id: str | None = None
    filter_string: str | None = None

    def filter(self) -> str:
        parts = [JOB_FILTER]
        if self.sweep_id:
            parts.append(f"tags.`afx.sweep_id` = '{self.sweep_id}'")
        if self.parent_run_id:
            parts.append(f"tags.`mlflow.parentRunId` = '{self.parent_run_id}'")
        if self.filter_string:
            parts.append(f"({self.filter_string})" if " or " in self.filter_string.lower() else self.filter_string)
        return " and ".join(parts)

    def describe(self) -> str:
        bits = [f"experiment '{self.experiment}'" if self.experiment else "all experiments"]
        if self.sweep_id:
            bits.append(f"sweep {self.sweep_id}")
        if self.parent_run_id:
            bits.append(f"parent run {self.parent_run_id}")
        if self.filter_string:
            bits.append(f"filter [{self.filter_string}]")
        return ", ".join(bits)


@dataclass
class LoadedRuns:
    """The job runs: identity frame, logged aggregates, and the runs left out with why."""

    runs: pl.DataFrame
    metric_runs: list[dict[str, Any]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    experiment_ids: list[str] = field(default_factory=list)


def client_for(uri: str) -> MlflowClient:
    return MlflowClient(uri)


def _experiment_ids(client: MlflowClient, name: str | None) -> list[str]:
    if name is None:
        return [e.experiment_id for e in client.search_experiments()]
    found = client.get_experiment_by_name(name)
    if found is None:
        known = ", ".join(e.name for e in client.search_experiments()) or "none"
        raise AfxError(f"no MLflow experiment named '{name}' at {client.tracking_uri} (experiments: {known})")
    return [found.experiment_id]


@dataclass
class RunRecord:
    """What the summary needs of one run, however it was read."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_time: int
    artifact_uri: str
    tags: dict[str, str]
    metrics: dict[str, float]
    params: dict[str, str]

    @classmethod
    def of(cls, run: Run) -> RunRecord:
        info = run.info
        return cls(
            info.run_id,
            info.run_name,
            str(info.experiment_id),
            info.status,
            info.start_time,
            info.artifact_uri,
            dict(run.data.tags),
            dict(run.data.metrics),
            dict(run.data.params),
        )


def search_job_runs(client: MlflowClient, selection: Selection) -> tuple[list[RunRecord], list[str]]:
    """Every afx job run matching the selection (all pages)."""
    ids = _experiment_ids(client, selection.experiment)
    fast = _sql_job_runs(client, selection, ids)
    if fast is not None:
        return fast, ids
    runs: list[RunRecord] = []
    token = None
    try:
        while True:
            page = client.search_runs(ids, selection.filter(), max_results=5000, page_token=token)
            runs.extend(RunRecord.of(run) for run in page)
            token = page.token
            if not token:
                break
    except Exception as exc:  # noqa: BLE001 - a bad filter string is the user's to fix
        if selection.filter_string:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AfxError(f"MLflow rejected the filter '{selection.filter_string}': {first}") from exc
        raise
    return runs, ids


def _sql_job_runs(client: MlflowClient, selection: Selection, experiment_ids: Sequence[str]) -> list[RunRecord] | None:
    """Fast path for database stores (SQLite, PostgreSQL) when the selection is by tags only: plain column
    queries through MLflow's own table models, skipping the ORM objects `search_runs` builds for every
    param (~120 per afx run), and reading only the params the summary uses. None = use `search_runs`
    (REST stores, user filter strings, or anything unexpected; tests check both paths agree)."""
    if selection.filter_string:
        return None
    try:
        from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlParam, SqlRun, SqlTag
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = client._tracking_client.store
        if not isinstance(store, SqlAlchemyStore):
            return None
        wanted = [("afx.kind", "job")]
        if selection.sweep_id:
            wanted.append(("afx.sweep_id", selection.sweep_id))
        if selection.parent_run_id:
            wanted.append(("mlflow.parentRunId", selection.parent_run_id))
        with store.ManagedSessionMaker() as session:
            query = session.query(
                SqlRun.run_uuid,
                SqlRun.name,
                SqlRun.experiment_id,
                SqlRun.status,
                SqlRun.start_time,
                SqlRun.artifact_uri,
            ).filter(SqlRun.experiment_id.in_([int(i) for i in experiment_ids]), SqlRun.lifecycle_stage == "active")
            for key, value in wanted:
                tagged = session.query(SqlTag.run_uuid).filter(SqlTag.key == key, SqlTag.value == value)
                query = query.filter(SqlRun.run_uuid.in_(tagged))
            records = {
                r[0]: RunRecord(r[0], r[1], str(r[2]), r[3], r[4], r[5], {}, {}, {})
                for r in query.order_by(SqlRun.start_time.desc()).all()
            }
            ids = list(records)
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                for run_id, key, value in session.query(SqlTag.run_uuid, SqlTag.key, SqlTag.value).filter(
                    SqlTag.run_uuid.in_(chunk)
                ):
                    records[run_id].tags[key] = value
                for run_id, key, value, is_nan in session.query(
                    SqlLatestMetric.run_uuid, SqlLatestMetric.key, SqlLatestMetric.value, SqlLatestMetric.is_nan
                ).filter(SqlLatestMetric.run_uuid.in_(chunk)):
                    records[run_id].metrics[key] = float("nan") if is_nan else float(value)
                for run_id, key, value in session.query(SqlParam.run_uuid, SqlParam.key, SqlParam.value).filter(
                    SqlParam.run_uuid.in_(chunk), SqlParam.key.like("variation.%.paper.%")
                ):
                    records[run_id].params[key] = value
        for record in records.values():  # as search_runs reports it
            record.run_name = record.tags.get("mlflow.runName", record.run_name)
        return list(records.values())
    except Exception:  # noqa: BLE001 - an optimisation only: fall back to the public API
        log.debug("direct SQL read of the runs failed; using search_runs", exc_info=True)
        return None


def _paper(params: Mapping[str, str], setting: str, variation: str) -> dict[str, float | None]:
    """The variation file's `paper:` numbers for this run's setting (single variations only)."""
    prefix = f"variation.{variation}.paper.{setting}."
    out: dict[str, float | None] = {}
    for name in PAPER_FIELDS:
        raw = params.get(prefix + name)
        try:
            out[f"paper_{name}"] = float(raw) if raw not in (None, "", "None", "null") else None
        except ValueError:
            out[f"paper_{name}"] = None
    return out


RUNS_SCHEMA = {
    "run_id": pl.String,
    "run_name": pl.String,
    "experiment_id": pl.String,
    "status": pl.String,
    "start_time": pl.Int64,
    "artifact_uri": pl.String,
    **dict.fromkeys(CONDITION, pl.String),
    "sweep_id": pl.String,
    "parent_run_id": pl.String,
    "backend": pl.String,
    **{f"validated_{label}": pl.Boolean for label in METRIC_LABELS},
    "paper_row": pl.Int64,
    **{f"paper_{k}": pl.Float64 for k in PAPER_FIELDS if k not in ("row", "n")},
    "paper_n": pl.Float64,
}


def runs_frame(runs: Iterable[RunRecord | Run]) -> LoadedRuns:
    """Identity (condition tags, sweep, parent, paper numbers) and logged aggregates of finished job runs."""
    rows, metric_runs, skipped = [], [], []
    for run in runs:
        info = run if isinstance(run, RunRecord) else RunRecord.of(run)
        tags = info.tags
        if info.status != "FINISHED":
            skipped.append((info.run_id, f"run {info.run_name or info.run_id} is {info.status}"))
            continue
        row = {
            "run_id": info.run_id,
            "run_name": info.run_name,
            "experiment_id": info.experiment_id,
            "status": info.status,
            "start_time": info.start_time,
            "artifact_uri": info.artifact_uri,
            **{k: tags.get(k, "default" if k == "variation" else "n/a") for k in CONDITION},
            "sweep_id": tags.get("afx.sweep_id"),
            "parent_run_id": tags.get("mlflow.parentRunId"),
            # the instrument: the model backend and whether the classifier's labels are validated (tags the
            # job logs; a missing `validated.<label>` tag means unvalidated)
            "backend": tags.get("backend") or info.params.get("model.backend") or "n/a",
            **{f"validated_{label}": tags.get(f"validated.{label}") == "true" for label in METRIC_LABELS},
        }
        if "prefix_mode" not in tags:
            row["prefix_mode"] = "prefill"
        paper = _paper(info.params, row["setting"], row["variation"])
        paper["paper_row"] = None if paper["paper_row"] is None else int(paper["paper_row"])
        rows.append({**row, **paper})
        na = {k.removeprefix("na."): v for k, v in tags.items() if k.startswith("na.")}
        metric_runs.append({"run_id": info.run_id, "metrics": dict(info.metrics), "na": na})
    frame = pl.DataFrame(rows, schema=RUNS_SCHEMA) if rows else pl.DataFrame(schema=RUNS_SCHEMA)
    return LoadedRuns(frame, metric_runs, skipped)


def load_runs(client: MlflowClient, selection: Selection) -> LoadedRuns:
    runs, ids = search_job_runs(client, selection)
    loaded = runs_frame(runs)
    loaded.experiment_ids = sorted({r.experiment_id for r in runs}) or ids
    return loaded


# ------------------------------------------------------------------------------------- transcripts


def local_artifact_dir(artifact_uri: str) -> Path | None:
    """The artifact directory on this machine, or None for remote stores (s3://, mlflow-artifacts:, ...)."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and artifact_uri[1:3] in (":\\", ":/")):
        return Path(artifact_uri)
    return None


def _label_exprs() -> list[pl.Expr]:
    """A label is missing when its entry is absent or says neither `final` nor `noncompliant`."""
    out = []
    for column, key in _LABEL_KEYS.items():
        entry = pl.col("labels").struct.field(key)
        value = pl.coalesce(entry.struct.field("final"), entry.struct.field("noncompliant"))
        out.append(pl.when(entry.is_null()).then(None).otherwise(value).alias(column))
    return out


def _read(paths: Sequence[str]) -> pl.DataFrame:
    frame = pl.scan_ndjson(list(paths), schema=READ_SCHEMA, include_file_paths="_path").collect()
    return frame.select("_path", "tier", "status", *_label_exprs())


def load_transcripts(client: MlflowClient, runs: pl.DataFrame, workers: int = 8) -> tuple[pl.DataFrame, dict[str, str]]:
    """Per-transcript labels of every run (columns of analysis.TRANSCRIPT_SCHEMA), and why some runs have none.

    Local artifact stores are read in place; remote ones are downloaded to a temporary directory first.
    """
    missing: dict[str, str] = {}
    located: dict[str, str] = {}
    remote: list[tuple[str, str]] = []
    for run_id, uri in runs.select("run_id", "artifact_uri").iter_rows():
        local = local_artifact_dir(uri or "")
        if local is None:
            remote.append((run_id, uri))
        elif (local / TRANSCRIPTS).is_file():
            located[str(local / TRANSCRIPTS)] = run_id
        else:
            missing[run_id] = f"no {TRANSCRIPTS} artifact"
    with tempfile.TemporaryDirectory(prefix="afx-summary-") as tmp:
        if remote:

            def fetch(item: tuple[str, str]) -> tuple[str, str | None, str | None]:
                run_id, _ = item
                try:
                    path = client.download_artifacts(run_id, TRANSCRIPTS, str(Path(tmp) / run_id))
                    return run_id, path, None
                except Exception as exc:  # noqa: BLE001 - the run falls back to its logged metrics
                    return run_id, None, f"{TRANSCRIPTS} could not be downloaded: {exc}"

            with ThreadPoolExecutor(max_workers=workers) as pool:
                for run_id, path, error in pool.map(fetch, remote):
                    if path:
                        located[path] = run_id
                    else:
                        missing[run_id] = str(error)
        frame, unreadable = read_transcript_files(located)
    missing.update(unreadable)
    return frame, missing


def read_transcript_files(located: Mapping[str, str]) -> tuple[pl.DataFrame, dict[str, str]]:
    """{transcripts.jsonl path: run id} -> one labels frame (analysis.TRANSCRIPT_SCHEMA), and unreadable runs.

    All files in one multi-threaded polars scan; if that fails, file by file so one bad file costs one run.
    """
    missing: dict[str, str] = {}
    frames = []
    if located:
        try:
            frames.append(_read(list(located)))
        except Exception:  # noqa: BLE001 - find the bad file(s), keep the rest
            for path, run_id in located.items():
                try:
                    frames.append(_read([path]))
                except Exception as exc:  # noqa: BLE001
                    missing[run_id] = f"{TRANSCRIPTS} is unreadable: {str(exc).splitlines()[0][:200]}"
    if not frames:
        return pl.DataFrame(schema=TRANSCRIPT_SCHEMA), missing
    mapping = pl.DataFrame(
        {"_path": list(located), "run_id": list(located.values())}, schema={"_path": pl.String, "run_id": pl.String}
    )
    data = pl.concat(frames).join(mapping, on="_path", how="inner")
    return data.select(list(TRANSCRIPT_SCHEMA)).cast(TRANSCRIPT_SCHEMA), missing


# ----------------------------------------------------------------------------------------- writing


def run_exists(client: MlflowClient, run_id: str) -> bool:
    try:
        client.get_run(run_id)
        return True
    except Exception:  # noqa: BLE001
        return False


def create_summary_run(
    client: MlflowClient, experiment_id: str, selection: Selection, source_ids: Sequence[str], name: str
) -> str:
    """A new run that holds a summary over arbitrary job runs; the sources are linked both ways by tag."""
    tags = {
        "afx.kind": "summary",
        "afx.summary.selection": selection.describe()[:5000],
        "afx.summary.filter": selection.filter()[:5000],
        "afx.summary.n_sources": str(len(source_ids)),
    }
    joined = ",".join(source_ids)
    tags["afx.summary.sources"] = joined if len(joined) <= 5000 else "see summary/sources.csv"
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    return run.info.run_id


def link_sources(client: MlflowClient, summary_run_id: str, source_ids: Sequence[str]) -> None:
    """Tag every source run with the summary that used it (`afx.summary_run_id`)."""
    for run_id in source_ids:
        client.set_tag(run_id, "afx.summary_run_id", summary_run_id)


def log_summary(
    client: MlflowClient,
    run_id: str,
    out_dir: Path,
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    artifact_path: str = "summary",
) -> None:
    """Upload the summary directory and record its headline numbers on the run."""
    client.log_artifacts(run_id, str(out_dir), artifact_path)
    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
    tag_items = [RunTag(k, str(v)[:5000]) for k, v in tags.items()]
    for i in range(0, max(len(items), 1), 500):
        client.log_batch(run_id, metrics=items[i : i + 500], tags=tag_items if i == 0 else [])


def set_status(client: MlflowClient, run_id: str, status: str) -> None:
    client.set_terminated(run_id, status)


def set_tags(client: MlflowClient, run_id: str, tags: Mapping[str, str]) -> None:
    client.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])
