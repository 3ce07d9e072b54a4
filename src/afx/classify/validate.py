"""`afx validate-classifier`: score a classifier against a labelled file of transcripts.

Usage: afx validate-classifier [file=PATH] [out=PATH] [labels.name=... labels.map='{...}'] [bootstrap=2000]
       [seed=0] [votes_draws=200] [any config overrides, e.g. classifier=llm_judge model=openai_compatible]

- file: our JSONL (default: afx/data/labelled/transcripts_v2.jsonl, else v1), CSV, or JSON
  `{"samples": [{"text": ..., "label": ...}]}` with `labels.map` and `labels.name` (see labelled_io.py).
- Each item's text is parsed with the parse policy of the model config given (`model=openai_compatible`), strict
  when no `model` override is given; the report counts parse statuses and repairs.
- Per label: n, accuracy, precision, recall, F1, kappa, sensitivity, specificity, the confusion matrix, bootstrap
  95% intervals (`bootstrap` resamples, `seed`) and AUROC from the classifier's scores (null without scores),
  with a ROC curve PNG beside the report. A judge run with `classifier.votes=k` adds the votes curve (kappa and
  AUROC for 1..k votes from the stored votes, `votes_draws` random subsets each, with calls per transcript).
- Each validation is an MLflow run (`afx.kind=validation`) in the sweeps' store, with the report and plots.
LLM judges are scored on every label of every item: unless given, classifier.scope=all and the
unmonitored_reasoning judge is added to classifier.judges (a sweep's defaults skip what its metrics do not
need, which would leave labels unscored). The overrides added are printed and kept in the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from afx import tracking
from afx.classify.agreement import binary_scores
from afx.classify.base import build_classifier
from afx.classify.labelled_io import GOLD, LabelOptions, load_labelled
from afx.classify.validate_score import (
    CRITERIA,
    NONCOMPLIANCE,
    evaluate,
    labels_by_setting,
    predict,
    score,
    to_transcript,
)
from afx.classify.validation_status import classifier_summary
from afx.classify.votes_curve import curve_markdown, votes_curve
from afx.errors import AfxError, one_line
from afx.parse_policy import ParsePolicy
from afx.paths import conf_dir, data_dir

__all__ = [
    "BINARY",
    "CRITERIA",
    "NONCOMPLIANCE",
    "binary_scores",
    "judge_every_label",
    "load_labelled",
    "main",
    "score",
    "to_transcript",
]
BINARY = GOLD
OWN_OPTIONS = ("file", "out", "bootstrap", "seed", "votes_draws")


def default_labelled_file() -> Path:
    """Our newest labelled set: transcripts_v2.jsonl when it exists, else v1."""
    folder = data_dir() / "labelled"
    v2 = folder / "transcripts_v2.jsonl"
    return v2 if v2.is_file() else folder / "transcripts_v1.jsonl"


def split_args(
    argv: list[str], own: tuple[str, ...] = OWN_OPTIONS, prefix: str | None = "labels."
) -> tuple[dict[str, str], list[str]]:
    """(a tool's own options: `own`, and keys starting with `prefix`; the Hydra config overrides)."""
    opts, overrides = {}, []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and (key in own or (prefix is not None and key.startswith(prefix))):
            opts[key] = value
        else:
            overrides.append(arg)
    return opts, overrides


def _int_option(opts: Mapping[str, str], key: str, default: int, minimum: int) -> int:
    try:
        value = int(opts.get(key, default))
    except ValueError:
        raise AfxError(f"{key}={opts[key]!r} is not a whole number") from None
    if value < minimum:
        raise AfxError(f"{key}={value} must be >= {minimum}")
    return value


def judge_every_label(classifier_cfg: dict[str, Any], overrides: list[str]) -> list[str]:
    """For LLM judges not told otherwise: scope=all and the unmonitored_reasoning judge (edits the config)."""
    if classifier_cfg.get("kind") != "llm_judge":
        return []
    added = []
    if not any(o.startswith("classifier.scope=") for o in overrides):
        classifier_cfg["scope"] = "all"
        added.append("classifier.scope=all")
    judges = list(classifier_cfg.get("judges") or [])
    if not any(o.startswith("classifier.judges=") for o in overrides) and "unmonitored_reasoning" not in judges:
        classifier_cfg["judges"] = [*judges, "unmonitored_reasoning"]
        added.append(f"classifier.judges=[{','.join(classifier_cfg['judges'])}]")
    return added


def compose_config(overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            cfg = compose("config", overrides=overrides, return_hydra_config=True)
            HydraConfig.instance().set_config(cfg)
            return cfg
    except AfxError:
        raise
    except Exception as exc:  # noqa: BLE001 - Hydra's composition errors: one line for the user
        raise AfxError(f"config overrides {' '.join(overrides)}: {one_line(str(exc))}") from exc


def parse_policy_for(cfg: DictConfig, overrides: list[str]) -> ParsePolicy | None:
    """The model config's parse policy when the command names a model (`model=...`), else None (strict)."""
    if not any(o.split("=", 1)[0].lstrip("+~") == "model" or o.lstrip("+~").startswith("model.") for o in overrides):
        return None
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    assert isinstance(model_cfg, dict)
    return ParsePolicy.from_model_config(model_cfg)


def _judge_cost(classifier: Any, n_labelled: int) -> tuple[dict[str, Any] | None, float | None, float | None]:
    """(the report's judge usage, judge requests per transcript, tokens per transcript) from the call stats."""
    stats = getattr(classifier, "stats", None)
    if stats is None or not hasattr(stats, "calls"):
        return None, None, None
    count = {k: int(getattr(stats, k, 0) or 0) for k in ("calls", "cache_hits", "retries")}
    tokens = sum(
        int(getattr(stats, k, 0) or 0)
        for k in ("input_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens")
    )
    usage = {**count, "tokens": tokens, "transcripts_labelled": n_labelled}
    requests = count["calls"] + count["cache_hits"]
    per = requests / n_labelled if n_labelled else None
    # tokens are known for fresh calls only: scale the mean per fresh call to every request
    tok = tokens / count["calls"] * requests / n_labelled if count["calls"] and tokens and n_labelled else None
    return usage, per, tok


def markdown(report: Mapping[str, Any], name: str) -> str:
    """The per-label table printed at the end."""
    lines = [
        f"### {name} on {report['n_items']} labelled transcripts",
        "",
        "| label | n | accuracy | precision | recall | f1 | kappa (95% CI) | AUROC | unjudged |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, s in report["labels"].items():
        if s.get("n"):
            ci = (s.get("ci95") or {}).get("kappa")
            kappa = f"{s['kappa']} [{ci[0]}, {ci[1]}]" if ci else str(s["kappa"])
            lines.append(
                f"| {key} | {s['n']} | {s['accuracy']} | {s['precision']} | {s['recall']} | {s['f1']} | {kappa} "
                f"| {s['auroc'] if s['auroc'] is not None else 'n/a'} | {s['unjudged_or_unparsed']} |"
            )
        else:
            lines.append(f"| {key} | 0 | n/a | n/a | n/a | n/a | n/a | n/a | {s['unjudged_or_unparsed']} |")
    parse = report.get("parse") or {}
    if parse:
        statuses = ", ".join(f"{k} {v}" for k, v in parse["statuses"].items())
        repairs = ", ".join(f"{k} {v}" for k, v in parse["repairs"].items()) or "none"
        policy = "the model config's policy" if report.get("model_parse_policy") else "strict"
        lines += [
            "",
            f"parse ({policy}): {statuses}; repairs: {repairs}; reasoning only: {parse.get('reasoning_only', 0)}",
        ]
    for setting, labels in (report.get("by_setting") or {}).items():
        shown = [f"{key} {s['kappa']} (n={s['n']})" for key, s in labels.items() if s.get("n")]
        lines.append(f"kappa on {setting} alone: {', '.join(shown) or 'no scored items'}")
    return "\n".join(lines)


def _metrics(report: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, s in report["labels"].items():
        for name in ("n", "accuracy", "precision", "recall", "f1", "kappa", "sensitivity", "specificity", "auroc"):
            if isinstance(s.get(name), int | float):
                out[f"{key}/{name}"] = float(s[name])
        for name, ci in (s.get("ci95") or {}).items():
            if ci:
                out[f"{key}/{name}_lo"], out[f"{key}/{name}_hi"] = float(ci[0]), float(ci[1])
    for setting, labels in (report.get("by_setting") or {}).items():
        for key, s in labels.items():
            for name in ("n", "kappa", "sensitivity", "specificity"):
                if isinstance(s.get(name), int | float):
                    out[f"{setting}/{key}/{name}"] = float(s[name])
    for status, n in report["parse"]["statuses"].items():
        out[f"parse/{status}"] = float(n)
    for kind, n in report["parse"]["repairs"].items():
        out[f"parse/repaired/{kind}"] = float(n)
    return out


def open_run(cfg: DictConfig, report: Mapping[str, Any], path: Path) -> tracking.JobRun:
    """The validation's MLflow run, in the same store and experiment as sweeps (tracking.uri respected)."""
    root = Path(str(cfg.paths.root))
    uri = tracking.tracking_uri(root, cfg.tracking.get("uri"))
    summary = report["classifier_config"]
    tags = {
        "afx.kind": "validation",
        "classifier": str(summary.get("name")),
        "classifier_kind": str(summary.get("kind")),
        "judge_model": str(summary.get("judge_model") or "none"),
        "labels.file": path.name,
        "labels.file_sha256": report["file_sha256"],
        "parse_policy": "model" if report["model_parse_policy"] else "strict",
    }
    name = f"validate {summary.get('name')} on {path.name}"
    experiment, artifacts = str(cfg.tracking.experiment), str(cfg.tracking.artifact_root)
    return tracking.JobRun(uri, experiment, artifacts, name, tags, liveness=cfg.tracking)


def main(argv: list[str]) -> int:
    from afx.cli_args import OneLineParser

    parser = OneLineParser("afx validate-classifier", __doc__)
    parser.add_argument("args", nargs="*", help="the options above (key=value) and config overrides")
    opts, overrides = split_args(parser.parse_intermixed_args(argv).args)
    label_opts = LabelOptions.from_options({k: v for k, v in opts.items() if k.startswith("labels.")})
    resamples = _int_option(opts, "bootstrap", 2000, 0)
    seed = _int_option(opts, "seed", 0, 0)
    draws = _int_option(opts, "votes_draws", 200, 1)
    path = Path(opts.get("file") or default_labelled_file())
    items = load_labelled(path, label_opts)
    cfg = compose_config(overrides)
    policy = parse_policy_for(cfg, overrides)
    classifier_cfg = OmegaConf.to_container(cfg.classifier, resolve=True)
    assert isinstance(classifier_cfg, dict)
    added = judge_every_label(classifier_cfg, overrides)
    if added:
        print(f"afx validate-classifier: scoring every label: {' '.join(added)}")
    classifier = build_classifier(classifier_cfg)
    name = str(classifier_cfg.get("name"))
    report: dict[str, Any] = {
        "classifier": name,
        "classifier_config": classifier_summary(classifier_cfg),
        "file": str(path),
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "model_parse_policy": policy.as_dict() if policy is not None else None,
        "label_options": {"name": label_opts.name, "map": dict(label_opts.map)} if label_opts.map else None,
        "bootstrap": {"resamples": resamples, "seed": seed},
        "overrides_added": added,
    }
    out = Path(opts.get("out") or Path("outputs") / "validation" / f"{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    run = open_run(cfg, report, path)
    try:
        predictions = predict(classifier, items, policy, progress=bool(cfg.get("progress", True)))
        scored, data = evaluate(items, predictions, resamples, seed)
        report.update(scored)
        report["by_setting"] = labels_by_setting(items, predictions, resamples, seed)
        usage, calls, tokens = _judge_cost(classifier, sum(bool(p.labels) for p in predictions))
        if usage is not None:
            report["judge_calls"] = usage["calls"]
            report["judge_usage"] = usage
        curve = votes_curve(
            data,
            int(classifier_cfg.get("votes", 1)) if classifier_cfg.get("kind") == "llm_judge" else 1,
            draws,
            seed,
            str(classifier_cfg.get("vote_rule", "majority")),
            float(classifier_cfg.get("threshold", 0.5)),
            calls,
            tokens,
        )
        if curve is not None:
            report["votes_curve"] = curve
        report["mlflow"] = {"uri": run.uri, "run_id": run.run_id}
        out.write_text(json.dumps(report, indent=2) + "\n")
        artifacts = [out, *write_plots(report, data, out, name)]
        (preds_path := out.with_suffix(".items.jsonl")).write_text(
            "".join(json.dumps(dataclasses.asdict(p), default=str) + "\n" for p in predictions)
        )
        params = {"classifier": classifier_cfg, "labels_file": str(path), **report["bootstrap"]}
        run.log_params(tracking.flatten(params))
        run.log_metrics(_metrics(report))
        for artifact in [*artifacts, preds_path]:
            run.log_artifact(artifact)
    except BaseException:
        run.end("FAILED")
        raise
    run.end()
    print(markdown(report, name))
    if curve is not None:
        print(f"\nvotes curve ({curve['draws']} random subsets of the {curve['k']} stored votes per point):")
        print(curve_markdown(curve))
    print(f"\nfull report: {out}")
    print(f"MLflow run {run.run_id} (afx.kind=validation): {tracking.ui_command(run.uri)}")
    return 0


def write_plots(report: Mapping[str, Any], data: Mapping[str, Any], out: Path, name: str) -> list[Path]:
    """The ROC curve PNG (when a label has an AUROC) and the votes curve PNG (when there is one), beside out."""
    from afx.classify.validate_plots import roc_png, votes_png

    paths = []
    roc = roc_png(data, report, out.with_name(out.stem + "_roc.png"), f"{name} on {Path(report['file']).name}")
    if roc is not None:
        paths.append(roc)
    if report.get("votes_curve"):
        paths.append(votes_png(report["votes_curve"], out.with_name(out.stem + "_votes.png"), f"{name}: votes curve"))
    return paths
