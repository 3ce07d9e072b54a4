"""One Hydra job: compose prompts, sample both tiers, classify, compute metrics, log to MLflow."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from afx import tracking
from afx.backends import make_backend
from afx.cache import ResponseCache
from afx.classify import build_classifier
from afx.errors import AfxError
from afx.metrics import compute_job_metrics
from afx.prompts import TIERS, TierCue, build_system_prompt, build_user_turn, render_prefix
from afx.queries import Query, load_queries
from afx.sampling import CachedBackend, SamplingPlan, sample_transcript
from afx.transcript import Transcript
from afx.variations import apply_variations

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

    @property
    def variation_label(self) -> str:
        return "+".join(self.variation_names) or "default"


def build_job_spec(cfg: DictConfig | Mapping[str, Any], load_data: bool = True) -> JobSpec:
    """Compose the setting with its variations, render prompts and prefix, pick the queries."""
    raw = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True) if isinstance(cfg, DictConfig) else dict(cfg)
    assert isinstance(raw, dict)
    variations = raw.get("variation") or {}
    setting = apply_variations(raw["setting"], variations)
    name = str(setting.get("name"))
    noncompliance = str(setting.get("noncompliance"))
    if noncompliance not in NONCOMPLIANCE:
        raise AfxError(f"setting {name}: noncompliance={noncompliance!r} is not one of {', '.join(NONCOMPLIANCE)}")
    cue = TierCue.from_mapping(setting.get("tier_cue") or {}, f"setting {name}")
    model, prefix = raw["model"], raw["prefix"]
    prefix_text = render_prefix(prefix, setting)
    if prefix_text and model.get("prefix_mode", "prefill") != "prefill":
        raise AfxError(
            f"model {model.get('name')}: prefix_mode={model.get('prefix_mode')!r} is not supported by this backend"
        )
    prefill = model.get("prefill") or {}
    plan = SamplingPlan(
        system=build_system_prompt(setting),
        first_prefill=str(prefill.get("first", "<")),
        next_prefill=str(prefill.get("next", "<")),
        prefix=prefix_text,
        prefix_continuation=str(prefix.get("continuation", "next_turn")),
        max_turns=int(model.get("max_turns", 4)),
        params=dict(model.get("sampling") or {}),
        canonical_tag_case=bool((model.get("parse") or {}).get("canonical_tag_case", False)),
        close_output_at_eos=bool((model.get("parse") or {}).get("close_output_at_eos", False)),
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
    )


def _run_identity() -> tuple[Path, str, str | None]:
    """(job output dir, sweep id, parent run id or None)."""
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    if hc.mode == RunMode.MULTIRUN:
        sweep_dir = Path(hc.sweep.dir)
        return out_dir, sweep_dir.name, tracking.read_parent_run_id(sweep_dir)
    return out_dir, out_dir.name, None


def _result_line(spec: JobSpec, values: Mapping[str, float], na: Mapping[str, str]) -> str:
    def pct(key: str) -> str:
        if f"{key}_pct" in values:
            return f"{values[key + '_pct']:.1f}±{values[key + '_se']:.1f}%"
        return "n/a"

    gap = f"{values['gap_pp']:+.1f}±{values['gap_se']:.1f}pp" if "gap_pp" in values else "n/a"
    failed = sum(v for k, v in values.items() if "/failed/" in k)
    return (
        f"afx: {spec.setting_name}/{spec.prefix_name}/{spec.variation_label}  "
        f"non-compliance train {pct('train/noncompliance')} (n={int(values['train/n_valid'])})  "
        f"unmonitored {pct('unmonitored/noncompliance')} (n={int(values['unmonitored/n_valid'])})  "
        f"gap {gap}  AF {pct('af/mean')}  failed {int(failed)}"
    )


def run_job(cfg: DictConfig) -> dict[str, float]:
    """The Hydra task: returns the logged metrics."""
    spec = build_job_spec(cfg)
    out_dir, sweep_id, parent_id = _run_identity()
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(cfg.paths.root)
    uri = tracking.tracking_uri(root, cfg.tracking.get("uri"))
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    assert isinstance(model_cfg, dict)
    backend = CachedBackend(
        make_backend(model_cfg),
        ResponseCache(cfg.cache.path) if cfg.cache.enabled else None,
        retries=int(cfg.cache.retries),
        retry_wait_s=float(cfg.cache.retry_wait_s),
    )
    classifier_cfg = OmegaConf.to_container(cfg.classifier, resolve=True)
    assert isinstance(classifier_cfg, dict)
    classifier = build_classifier(classifier_cfg)

    resolved = OmegaConf.to_container(cfg, resolve=True)
    (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (out_dir / "system_prompt.txt").write_text(spec.system_prompt)
    if spec.prefix_text:
        (out_dir / "prefix.txt").write_text(spec.prefix_text)
    tags = {
        "setting": spec.setting_name,
        "prefix": spec.prefix_name,
        "variation": spec.variation_label,
        "model": str(cfg.model.name),
        "backend": str(cfg.model.backend),
        "classifier": str(cfg.classifier.name),
        "prefix_mode": str(cfg.model.get("prefix_mode", "prefill")),
        "prefix_continuation": spec.plan.prefix_continuation if spec.prefix_text else "n/a",
        "afx.sweep_id": sweep_id,
        "afx.kind": "job",
    }
    run = tracking.JobRun(
        uri,
        cfg.tracking.experiment,
        cfg.tracking.artifact_root,
        run_name=f"{spec.setting_name}/{spec.prefix_name}/{spec.variation_label}",
        tags=tags,
        parent_run_id=parent_id,
    )
    params = tracking.flatten(resolved)
    params.update(
        {
            "prompt.system_sha256": sha(spec.system_prompt),
            "prompt.prefix_sha256": sha(spec.prefix_text) if spec.prefix_text else "none",
            "data.n_queries": str(len(spec.queries)),
        }
    )
    run.log_params(params)

    records: list[dict[str, Any]] = []
    items = [(q, tier, s) for q in spec.queries for tier in TIERS for s in range(int(cfg.data.samples_per_query))]
    meta = {"setting": spec.setting_name, "prefix": spec.prefix_name, "variations": spec.variation_names}
    status = "FAILED"
    try:
        with (
            (out_dir / "transcripts.jsonl").open("w", encoding="utf-8") as sink,
            tqdm(
                total=len(items),
                desc=f"{spec.setting_name}/{spec.prefix_name}/{spec.variation_label}",
                unit="sample",
                disable=not cfg.progress,
                dynamic_ncols=True,
            ) as bar,
        ):
            for query, tier, sample in items:
                transcript = Transcript(
                    query.id, query.text, tier, spec.setting_name, spec.prefix_name, spec.variation_label, sample
                )
                user_turn = build_user_turn(query.text, tier, spec.cue)
                sample_transcript(backend, spec.plan, transcript, user_turn, {**meta, "tier": tier})
                if transcript.valid:
                    transcript.labels = classifier.label(transcript, spec.noncompliance)
                record = transcript.to_dict()
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()
                records.append(record)
                bar.update(1)
        result = compute_job_metrics(records, str(cfg.classifier.get("conditioning_classifier", "af_partial")))
        stats = backend.stats
        result.values.update(
            {
                "calls/model": stats.calls,
                "calls/cache_hits": stats.cache_hits,
                "calls/retries": stats.retries,
                "calls/failures": stats.failures,
                "tokens/completion": stats.completion_tokens,
            }
        )
        (out_dir / "metrics.json").write_text(
            json.dumps({"metrics": result.values, "na": result.na, "retry_reasons": stats.retry_reasons}, indent=2)
        )
        run.log_metrics(result.values)
        if result.na:
            run.set_tags({f"na.{k}": v for k, v in result.na.items()})
        for name in ("config.yaml", "system_prompt.txt", "prefix.txt", "transcripts.jsonl", "metrics.json"):
            if (out_dir / name).exists():
                run.log_artifact(out_dir / name)
        print(_result_line(spec, result.values, result.na), flush=True)
        status = "FINISHED"
        return result.values
    except KeyboardInterrupt:
        status = "KILLED"
        log.warning(
            "interrupted: %d finished transcripts kept in %s; rerun to resume from the cache",
            len(records),
            out_dir / "transcripts.jsonl",
        )
        raise
    finally:
        run.end(status)
