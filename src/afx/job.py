"""One Hydra job: compose prompts, sample both tiers, classify, compute metrics, log to MLflow.

Items (query x tier x sample) run on a pool of `model.max_concurrency` worker threads (default 1: in the
calling thread); each worker samples AND classifies one item. A finished transcript is appended to
transcripts.jsonl at once (under a lock, in completion order, so a killed job keeps everything it finished);
when the job ends the file is rewritten in the deterministic (query, tier, sample) order. With
`model.batch=true` the job runs in rounds: every request not in the cache goes into one Message Batch per
round, and the loop is replayed from the cache until each transcript is finished.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from afx import redact, tracking
from afx.backends import backend_class, make_backend
from afx.backends.anthropic_cache import effective_pricing, prompt_cache_check
from afx.backends.anthropic_thinking import thinking_tag
from afx.cache import ResponseStore, open_store
from afx.classify import build_classifier
from afx.classify.base import LABELS
from afx.classify.validation_status import classifier_validation, validation_tags
from afx.errors import AfxError
from afx.metrics import BOUNDS_SHOWN_ABOVE_PCT, compute_job_metrics
from afx.parse_policy import ParsePolicy
from afx.prompts import TIERS, TierCue, build_system_prompt, build_user_turn, render_prefix
from afx.queries import Query, load_queries
from afx.sampling import (
    CachedBackend,
    CallStats,
    Deferred,
    Interrupted,
    RetryPolicy,
    SamplingPlan,
    close_open_tags,
    cost_usd,
    sample_transcript,
)
from afx.transcript import Transcript
from afx.variations import apply_variations
from afx.viewer import write_viewer

log = logging.getLogger(__name__)
NONCOMPLIANCE = ("refusal", "welfare_support")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class JobSpec:
    """Everything a job will do, built (and validated) before any model call."""

    setting: dict[str, Any]
    setting_name: str
    prefix_name: str
    variation_names: list[str]
    cue: TierCue
    system_prompt: str
    prefix_text: str | None
    plan: SamplingPlan
    queries: list[Query]
    noncompliance: str
    accept_suffix: str | None = None  # accept/reject protocol (paper.md 1.8); noncompliance is then not_accepted

    @property
    def variation_label(self) -> str:
        return "+".join(self.variation_names) or "default"


def check_model_config(model: Mapping[str, Any], has_prefix: bool, check_env: bool = True) -> type:
    """The backend class, after its own config checks (e.g. an API key variable that is not set)."""
    mode = str(model.get("prefix_mode", "prefill"))
    if mode not in ("prefill", "turn"):
        raise AfxError(f"model {model.get('name')}: prefix_mode={mode!r} must be 'prefill' or 'turn'")
    cls = backend_class(str(model.get("backend")))
    validate = getattr(cls, "validate_config", None)
    if validate is not None:
        validate(model, has_prefix=has_prefix, check_env=check_env)
    return cls


def check_judge_config(classifier: Mapping[str, Any], check_env: bool = True) -> None:
    """An LLM judge's model config gets the same checks (key variable, sampling), before any call."""
    judge = classifier.get("judge")
    if not isinstance(judge, Mapping) or not judge.get("backend"):
        return
    sampling = dict(judge.get("sampling") or {})
    if classifier.get("temperature") is not None:
        sampling["temperature"] = classifier["temperature"]  # the judges send the classifier's temperature
    try:
        check_model_config({**judge, "sampling": sampling}, has_prefix=False, check_env=check_env)
    except AfxError as exc:
        raise AfxError(f"classifier.judge: {exc}") from None


def build_job_spec(cfg: DictConfig | Mapping[str, Any], load_data: bool = True, check_env: bool = True) -> JobSpec:
    """Compose the setting with its variations, render prompts and prefix, pick the queries.

    Also checks the model config against its backend (prefix mode, continuation support, and, unless
    `check_env` is false, that the API key variable is set), so a bad config fails before any call.
    """
    raw = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True) if isinstance(cfg, DictConfig) else dict(cfg)
    assert isinstance(raw, dict)
    variations = raw.get("variation") or {}
    setting = apply_variations(raw["setting"], variations)
    name = str(setting.get("name"))
    noncompliance = str(setting.get("noncompliance"))
    if noncompliance not in NONCOMPLIANCE:
        raise AfxError(f"setting {name}: noncompliance={noncompliance!r} is not one of {', '.join(NONCOMPLIANCE)}")
    cue = TierCue.from_mapping(setting.get("tier_cue") or {}, f"setting {name}")
    accept_suffix, noncompliance = accept_reject_protocol(setting, name, noncompliance)
    model, prefix = raw["model"], raw["prefix"]
    prefix_text = render_prefix(prefix, setting)
    cls = check_model_config(model, bool(prefix_text), check_env)
    check_judge_config(raw.get("classifier") or {}, check_env)
    if (raw.get("classifier") or {}).get("kind") == "oracle" and model.get("backend") != "simulated":
        raise AfxError(f"classifier=oracle needs model=simulated (it reads simulator truth), not {model.get('name')}")
    prefix_mode = str(model.get("prefix_mode", "prefill"))
    if prefix_text and prefix_mode == "turn":
        prefix_text = close_open_tags(prefix_text)  # sent as a completed assistant turn
    prefill = model.get("prefill") or {}
    plan = SamplingPlan(
        system=build_system_prompt(setting),
        first_prefill=str(prefill.get("first", "<")),
        next_prefill=str(prefill.get("next", "<")),
        prefix=prefix_text,
        prefix_continuation=str(prefix.get("continuation", "next_turn")),
        max_turns=int(model.get("max_turns", 4)),
        params=dict(model.get("sampling") or {}),
        parse=ParsePolicy.from_model_config(model),
        prefix_mode=prefix_mode,
        rstrip_prefill=bool(getattr(cls, "rstrip_prefill", False)),
    )
    data = raw.get("data") or {}
    queries = (
        load_queries(
            list((setting.get("queries") or {}).get("sources") or []), data.get("limit"), int(data.get("seed", 0))
        )
        if load_data
        else []
    )
    return JobSpec(
        setting,
        name,
        str(prefix.get("name")),
        [v for v in variations if v != "default"],
        cue,
        plan.system,
        prefix_text,
        plan,
        queries,
        noncompliance,
        accept_suffix,
    )


def accept_reject_protocol(setting: Mapping[str, Any], name: str, noncompliance: str) -> tuple[str | None, str]:
    """(suffix for the user turn, non-compliance measure): the protocol's own when `accept_reject.enabled`."""
    protocol = setting.get("accept_reject") or {}
    if not protocol.get("enabled"):
        return None, noncompliance
    suffix = str(protocol.get("suffix") or "").strip()
    if not suffix:
        raise AfxError(f"setting {name}: accept_reject.enabled needs accept_reject.suffix (the user-turn instruction)")
    if noncompliance != "refusal":
        raise AfxError(
            f"setting {name}: the accept/reject protocol scores refusals; this setting measures {noncompliance}"
        )
    return suffix, "not_accepted"


def _run_identity() -> tuple[Path, str, str | None]:
    """(job output dir, sweep id, parent run id or None)."""
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    if hc.mode == RunMode.MULTIRUN:
        sweep_dir = Path(hc.sweep.dir)
        return out_dir, sweep_dir.name, tracking.read_parent_run_id(sweep_dir)
    return out_dir, out_dir.name, None


def write_shards(setting: Any) -> bool:
    """`cache.shards`: true/false, or auto = on when Hydra's launcher is not the basic (one-at-a-time) one, i.e.
    when jobs may run in parallel processes that would otherwise queue on the cache's write lock."""
    if isinstance(setting, bool):
        return setting
    if str(setting) != "auto":
        raise AfxError(f"cache.shards must be true, false or auto (got {setting!r})")
    if not HydraConfig.initialized():
        return False
    target = str(HydraConfig.get().launcher.get("_target_", ""))
    return not target.endswith("BasicLauncher")


def open_cache(cache_cfg: Mapping[str, Any]) -> ResponseStore:
    """The job's response cache from the `cache` config section (url or path, size cap, write shards)."""
    max_mb = cache_cfg.get("max_mb")
    return open_store(
        cache_cfg["path"],
        cache_cfg.get("url"),
        max_mb=float(max_mb) if max_mb else None,
        shard=write_shards(cache_cfg.get("shards", "auto")),
    )


def _num(value: float, signed: bool = False) -> str:
    """One decimal, but 0 and 100 as they are (an interval end at a boundary)."""
    text = f"{value:+.1f}" if signed else f"{value:.1f}"
    return text.removesuffix(".0") if abs(value) in (0.0, 100.0) else text


def _instrument(classifier: str, validation: Mapping[str, Mapping[str, Any]], labels: tuple[str, ...]) -> str:
    """`(heuristic, unvalidated)`: the classifier behind a number and whether all its labels are validated."""
    known = [validation[label] for label in labels if label in validation]
    if not classifier or not known:
        return ""
    return f" ({classifier}, {'validated' if all(s['validated'] for s in known) else 'unvalidated'})"


def _result_line(
    spec: JobSpec,
    values: Mapping[str, float],
    na: Mapping[str, str],
    model: str = "",
    classifier: str = "",
    validation: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The job's one-line result: rates ±SEM with Wilson 95% intervals, the classifier and its validation,
    and the failure bounds (metrics.py) when more than BOUNDS_SHOWN_ABOVE_PCT of the transcripts are unusable."""

    def pct(key: str) -> str:
        if f"{key}_pct" not in values:
            return "n/a"
        text = f"{values[key + '_pct']:.1f}±{values[key + '_se']:.1f}%"
        if f"{key}_lo" in values:
            text += f" [{_num(values[key + '_lo'])}, {_num(values[key + '_hi'])}]"
        return text

    gap = "n/a"
    if "gap_pp" in values:
        gap = f"{values['gap_pp']:+.1f}±{values['gap_se']:.1f}pp"
        if "gap_lo" in values:
            gap += f" [{_num(values['gap_lo'], True)}, {_num(values['gap_hi'], True)}]"
    failed = sum(v for k, v in values.items() if "/failed/" in k)
    validation = validation or {}
    line = (
        f"afx: {spec.setting_name}/{spec.prefix_name}/{spec.variation_label}  "
        f"non-compliance train {pct('train/noncompliance')} (n={int(values['train/n_valid'])})  "
        f"unmonitored {pct('unmonitored/noncompliance')} (n={int(values['unmonitored/n_valid'])})  "
        f"gap {gap}{_instrument(classifier, validation, ('compliance',))}  "
        f"AF {pct('af/mean')}{_instrument(classifier, validation, ('af_partial', 'af_full'))}  failed {int(failed)}"
    )
    unusable = values.get("unusable_pct", 0.0)
    if unusable > BOUNDS_SHOWN_ABOVE_PCT:

        def bound(key: str, unit: str = "pct", signed: bool = False) -> str:
            lo, hi = values.get(f"{key}_bound_lo_{unit}"), values.get(f"{key}_bound_hi_{unit}")
            return "n/a" if lo is None or hi is None else f"[{_num(lo, signed)}, {_num(hi, signed)}]"

        line += (
            f"  bounds with the {unusable:.1f}% unusable as compliant / non-compliant: "
            f"train {bound('train/noncompliance')} unmonitored {bound('unmonitored/noncompliance')} "
            f"gap {bound('gap', 'pp', True)} AF {bound('af/mean')}"
        )
    return line + (f"  model {model}" if model else "")


def _stats_snapshot(stats: Any) -> dict[str, Any]:
    """The counters of a `CallStats` (or anything with the same attribute names), copied."""
    snap = {f.name: getattr(stats, f.name, 0) for f in fields(CallStats) if not f.name.startswith("_")}
    snap["retry_reasons"] = dict(getattr(stats, "retry_reasons", None) or {})
    return snap


def _stats_metrics(stats: CallStats, before: Mapping[str, Any] | None, prefix: str) -> dict[str, float]:
    """calls / cache hits / retries / failures (and retries by reason) since `before`."""
    now = _stats_snapshot(stats)
    base = before or {}
    out = {
        f"{prefix}/{name}": float(now[key] - base.get(key, 0))
        for name, key in (("calls", "calls"), ("cache_hits", "cache_hits"), ("retries", "retries"))
    }
    out[f"{prefix}/failures"] = float(now["failures"] - base.get("failures", 0))
    out[f"{prefix}/abandoned"] = float(now["abandoned"] - base.get("abandoned", 0))  # timed out: maybe billed
    if prefix == "judge":  # the model's own usage is logged under tokens/
        for name, key in (("input", "input_tokens"), ("output", "completion_tokens")):
            if delta := now[key] - base.get(key, 0):
                out[f"judge/tokens_{name}"] = float(delta)
    for reason, n in now["retry_reasons"].items():
        delta = n - (base.get("retry_reasons") or {}).get(reason, 0)
        if delta:
            out[f"{prefix}/retry/{reason}"] = float(delta)
    return out


def retry_policy(model: Mapping[str, Any], cache_cfg: Mapping[str, Any]) -> RetryPolicy:
    """model.max_attempts / retry_wait_s / retry_max_wait_s win over the cache section's retries."""
    attempts = model.get("max_attempts") or int(cache_cfg.get("retries", 2)) + 1
    base = float(model.get("retry_wait_s", cache_cfg.get("retry_wait_s", 1.0)))
    return RetryPolicy(
        max_attempts=int(attempts), base_s=base, max_s=float(model.get("retry_max_wait_s", max(60.0, base)))
    )


def concurrency(model: Mapping[str, Any], backend: Any) -> int:
    """model.max_concurrency (default 1); an in-process model that is not thread-safe always gets 1."""
    workers = int(model.get("max_concurrency") or 1)
    if workers < 1:
        raise AfxError(f"model.max_concurrency must be >= 1, got {workers}")
    if workers > 1 and getattr(backend, "exclusive", False):
        log.warning("model.max_concurrency=%d ignored: backend %s runs one call at a time", workers, backend.name)
        return 1
    return workers


def _run_pool(work: Callable[[int], None], indices: list[int], workers: int, stop: threading.Event) -> list[int]:
    """Run `work(i)` for each index on `workers` threads; returns the indices that were deferred (batch mode).

    The first fatal error stops every worker (no new calls) and is re-raised; Ctrl-C does the same.
    """
    deferred: list[int] = []
    if workers == 1:
        for i in indices:
            try:
                work(i)
            except Deferred:
                deferred.append(i)
        return deferred
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="afx-sample")
    futures = {pool.submit(work, i): i for i in indices}
    try:
        remaining = set(futures)
        while remaining:
            done, remaining = cf.wait(remaining, timeout=0.5, return_when=cf.FIRST_EXCEPTION)
            for future in done:
                exc = future.exception()
                if isinstance(exc, Deferred):
                    deferred.append(futures[future])
                elif exc is not None:
                    raise exc
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return sorted(deferred)


def run_job(cfg: DictConfig) -> dict[str, float]:
    """The Hydra task: returns the logged metrics."""
    spec = build_job_spec(cfg)
    out_dir, sweep_id, parent_id = _run_identity()
    out_dir.mkdir(parents=True, exist_ok=True)
    redact.protect_job(cfg, out_dir)  # secrets out of the log file and Hydra's .hydra/*.yaml (afx.redact)
    root = Path(cfg.paths.root)
    uri = tracking.tracking_uri(root, cfg.tracking.get("uri"))
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    cache_cfg = OmegaConf.to_container(cfg.cache, resolve=True)
    assert isinstance(model_cfg, dict) and isinstance(cache_cfg, dict)
    batch = bool(model_cfg.get("batch", False))
    stop = threading.Event()
    model = make_backend(model_cfg)
    cache = open_cache(cache_cfg) if cfg.cache.enabled else None
    if batch and cache is None:
        raise AfxError("model.batch=true needs the response cache (cache.enabled=true): batch results land there")
    backend = CachedBackend(
        model,
        cache,
        policy=retry_policy(model_cfg, cache_cfg),
        stop=stop,
        defer=batch,
        stop_after_connection_failures=int(cache_cfg.get("stop_after_connection_failures") or 0),
    )
    workers = concurrency(model_cfg, model)
    runner = None
    if batch:
        make_runner = getattr(model, "batch_runner", None)
        if make_runner is None:
            raise AfxError(f"model.batch=true: backend {model.name} has no batch mode (anthropic has)")
        runner = make_runner(cache, Path(str(cfg.cache.path)), progress=bool(cfg.progress))
    classifier_cfg = OmegaConf.to_container(cfg.classifier, resolve=True)
    assert isinstance(classifier_cfg, dict)
    classifier = build_classifier(classifier_cfg)
    validation = classifier_validation(classifier_cfg, LABELS, spec.setting_name)  # a broken report fails here
    judge_stats = getattr(classifier, "stats", None)
    judge_before = _stats_snapshot(judge_stats) if hasattr(judge_stats, "calls") else None

    resolved = OmegaConf.to_container(cfg, resolve=True)
    (out_dir / "config.yaml").write_text(redact.config_yaml(resolved))
    (out_dir / "system_prompt.txt").write_text(spec.system_prompt)
    if spec.prefix_text:
        (out_dir / "prefix.txt").write_text(spec.prefix_text)
    own_turn = spec.plan.prefix_is_own_turn
    tags = {
        "setting": spec.setting_name,
        "prefix": spec.prefix_name,
        "variation": spec.variation_label,
        "model": str(cfg.model.name),
        "backend": str(cfg.model.backend),
        "classifier": str(cfg.classifier.name),
        "prefix_mode": spec.plan.prefix_mode,
        "thinking": thinking_tag(cfg.model),  # what the classifiers read of an Anthropic model's thinking
        "prompt_cache": prompt_cache_check(model_cfg, spec.system_prompt, log),  # below_minimum: warned once
        "prefix_continuation": ("next_turn" if own_turn else "same_turn") if spec.prefix_text else "n/a",
        "batch": str(batch).lower(),
        "afx.sweep_id": sweep_id,
        "afx.kind": "job",
    }
    tags.update(validation_tags(str(cfg.classifier.name), validation))
    run = tracking.JobRun(
        uri,
        cfg.tracking.experiment,
        cfg.tracking.artifact_root,
        run_name=f"{spec.setting_name}/{spec.prefix_name}/{spec.variation_label}",
        tags=tags,
        parent_run_id=parent_id,
        liveness=cfg.tracking,  # heartbeat interval and timeout (afx.run_owner)
    )
    params = tracking.flatten(resolved)
    params.update(
        {
            "prompt.system_sha256": sha(spec.system_prompt),
            "prompt.prefix_sha256": sha(spec.prefix_text) if spec.prefix_text else "none",
            "data.n_queries": str(len(spec.queries)),
            "run.concurrency": str(workers),
        }
    )
    run.log_params(params)

    items = [(q, tier, s) for q in spec.queries for tier in TIERS for s in range(int(cfg.data.samples_per_query))]
    meta = {"setting": spec.setting_name, "prefix": spec.prefix_name, "variations": spec.variation_names}
    truth_of = getattr(model, "truth_of", None)  # same sample key as sample_transcript's requests
    records: dict[int, dict[str, Any]] = {}
    lock = threading.Lock()
    status = "FAILED"
    sink_path = out_dir / "transcripts.jsonl"
    try:
        with (
            sink_path.open("w", encoding="utf-8") as sink,
            tqdm(
                total=len(items),
                desc=f"{spec.setting_name}/{spec.prefix_name}/{spec.variation_label}",
                unit="sample",
                disable=not cfg.progress,
                dynamic_ncols=True,
            ) as bar,
        ):

            def work(index: int) -> None:
                query, tier, sample = items[index]
                transcript = Transcript(
                    query.id, query.text, tier, spec.setting_name, spec.prefix_name, spec.variation_label, sample
                )
                user_turn = build_user_turn(query.text, tier, spec.cue, spec.accept_suffix)
                sample_transcript(backend, spec.plan, transcript, user_turn, {**meta, "tier": tier})
                if truth_of is not None:  # the simulator's ground truth (classifier=oracle reads it)
                    transcript.truth = truth_of({**meta, "tier": tier}, f"{query.id}|{tier}|{sample}")
                if stop.is_set():
                    raise Interrupted("job stopping")
                if transcript.valid:
                    transcript.labels = classifier.label(transcript, spec.noncompliance)
                record = transcript.to_dict()
                line = json.dumps(record, ensure_ascii=False) + "\n"
                with lock:
                    if stop.is_set():
                        raise Interrupted("job stopping")
                    sink.write(line)
                    sink.flush()
                    records[index] = record
                    bar.update(1)

            pending = list(range(len(items)))
            rounds = 0
            max_rounds = spec.plan.max_turns * backend.policy.max_attempts + 1
            while pending:
                pending = _run_pool(work, pending, workers, stop)
                if pending:
                    assert runner is not None
                    rounds += 1
                    if rounds > max_rounds:
                        raise AfxError(f"batch mode: {len(pending)} samples still unanswered after {rounds} rounds")
                    runner.run(backend)
        ordered = [records[i] for i in range(len(items))]
        _rewrite_in_order(sink_path, ordered)
        if cfg.get("viewer", True):
            title = f"afx {spec.setting_name}/{spec.prefix_name}/{spec.variation_label} ({sweep_id})"
            write_viewer(ordered, out_dir / "transcripts.html", title=title)
        result = compute_job_metrics(
            ordered,
            str(cfg.classifier.get("conditioning_classifier", "af_partial")),
            api_refusal_counts_as=cfg.model.get("api_refusal_counts_as"),
        )
        stats = backend.stats
        result.values.update(_stats_metrics(stats, None, "calls"))
        result.values["calls/model"] = result.values.pop("calls/calls")
        result.values["tokens/completion"] = float(stats.completion_tokens)
        result.values.update(stats.usage_metrics("tokens"))
        cost = cost_usd(stats, effective_pricing(model_cfg), batch=batch)  # 1h cache writes at their price
        if cost is not None:
            result.values["cost/usd"] = cost
            answered = stats.calls - sum(stats.retry_reasons.values())  # attempts that returned an answer
            if stats.abandoned and answered > 0:  # not in cost/usd: afx never saw their usage
                result.values["cost/abandoned_usd_est"] = cost / answered * stats.abandoned
        if judge_before is not None:  # LLM judges expose their own CallStats
            result.values.update(_stats_metrics(judge_stats, judge_before, "judge"))
        (out_dir / "metrics.json").write_text(
            json.dumps(
                {
                    "metrics": result.values,
                    "na": result.na,
                    "retry_reasons": stats.retry_reasons,
                    "classifier": str(cfg.classifier.name),
                    "validation": validation,
                },
                indent=2,
            )
        )
        run.log_metrics(result.values)
        if result.na:
            run.set_tags({f"na.{k}": v for k, v in result.na.items()})
        artifacts = ("config.yaml", "system_prompt.txt", "prefix.txt", "transcripts.jsonl", "transcripts.html")
        for name in (*artifacts, "metrics.json"):
            if (out_dir / name).exists():
                run.log_artifact(out_dir / name)
        line = _result_line(spec, result.values, result.na, str(cfg.model.name), str(cfg.classifier.name), validation)
        print(line, flush=True)
        status = "FINISHED"
        return result.values
    except KeyboardInterrupt:
        status = "KILLED"
        stop.set()
        log.warning(
            "interrupted: %d finished transcripts kept in %s; rerun to resume from the cache",
            len(records),
            sink_path,
        )
        raise
    finally:
        stop.set()
        if cache is not None:
            cache.close()  # folds a write shard into the main file
        run.end(status)


def _rewrite_in_order(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace the completion-order file with the deterministic (query, tier, sample) order, atomically."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)
