"""`afx fit-probe`: fit a compliance probe on the judge model's hidden states over labelled transcripts.

Usage: afx fit-probe judge=<compliance judge> file=A.jsonl[,B.jsonl] out=PROBE.json [C=0.1] [threshold=0.5]
       [folds=5] [name=...] [cache=DIR] [progress=false] [config overrides: model=..., classifier.judge.path=...]

Each labelled item of the judge's settings with a gold `noncompliant` and an answer the judge model's parse policy
finds is put to the judge (classifier=llm_judge_local's judge model unless overridden); its final hidden state at
the answer position is the feature vector. An L2-penalised logistic regression (probe.fit_logistic, C as in
scikit-learn) is fitted on all of them; its quality is estimated by k-fold cross-validation (folds by a hash of the item
id) and, with two or more files, by training on all files but one and testing on that one. The JSON records the
judge prompt's and the judge model's sha256 (a probe is only used with both unchanged), the files and their sha256,
and those estimates. With `cache=DIR` each hidden state is kept in DIR under the sha256 of the judge model and the
exact judge conversation (written as soon as it is read), so a refit after adding a file reads the model only for
the new items; a changed prompt, transcript or model is a new key. Cross-validated numbers are not a held-out
validation: run `afx validate-classifier` on a file the probe never saw.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from afx.classify.agreement import auroc, binary_scores
from afx.classify.labelled_io import load_labelled
from afx.classify.logprob_backends import Chat
from afx.classify.logprob_judge import LogprobJudgeClassifier, load_score_spec
from afx.classify.probe import fit_logistic, logistic
from afx.classify.validate import compose_config, parse_policy_for, split_args
from afx.classify.validate_score import to_transcript
from afx.errors import AfxError

OWN_OPTIONS = ("judge", "file", "out", "C", "threshold", "folds", "name", "cache", "progress")


def _number(opts: Mapping[str, str], key: str, default: float, low: float, high: float | None = None) -> float:
    try:
        value = float(opts.get(key, default))
    except ValueError:
        raise AfxError(f"{key}={opts[key]!r} is not a number") from None
    if value < low or (high is not None and value > high):
        raise AfxError(f"{key}={value} must be in [{low}, {high if high is not None else 'inf'}]")
    return value


def _fold(item_id: str, folds: int) -> int:
    return int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % folds


def _agreement(gold: list[bool], p: list[float], threshold: float) -> dict[str, Any]:
    scores = binary_scores(zip(gold, [v >= threshold for v in p], strict=True))
    value = auroc(gold, p)
    return {
        "n": len(gold),
        "kappa": scores.get("kappa"),
        "accuracy": scores.get("accuracy"),
        "auroc": None if value is None else round(value, 4),
    }


def estimates(x: Any, y: Any, ids: list[str], files: list[str], c: float, threshold: float, folds: int) -> dict:
    """k-fold cross-validated and leave-one-file-out agreement of the probe (refitted on each training part)."""
    import numpy as np

    out: dict[str, Any] = {}
    fold = np.array([_fold(i, folds) for i in ids])
    p = np.zeros(len(y))
    for k in range(folds):
        test = fold == k
        if test.any() and len(set(y[~test].tolist())) == 2:
            p[test] = logistic(x[test], *fit_logistic(x[~test], y[~test], c))
    out[f"cv{folds}"] = _agreement(y.tolist(), p.tolist(), threshold)
    names = sorted(set(files))
    if len(names) > 1:
        where = np.array(files)
        for name in names:
            test = where == name
            if len(set(y[~test].tolist())) == 2:
                q = logistic(x[test], *fit_logistic(x[~test], y[~test], c))
                out[f"train_others_test_{name}"] = _agreement(y[test].tolist(), q.tolist(), threshold)
    return out


class FeatureCache:
    """Hidden states on disk, one .npy per (judge model sha256, judge conversation); None: no cache."""

    def __init__(self, root: Path | None, model_sha256: str) -> None:
        self.root, self.model_sha256 = root, model_sha256
        self.hits = self.misses = 0
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)

    def _path(self, chat: Chat) -> Path:
        assert self.root is not None
        key = json.dumps([self.model_sha256, chat.system, chat.turns, chat.prefill, chat.fixed], ensure_ascii=False)
        return self.root / f"{hashlib.sha256(key.encode()).hexdigest()}.npy"

    def hidden(self, classifier: LogprobJudgeClassifier, chat: Chat) -> Any:
        """The stored state for this conversation, or the model's (then stored, atomically)."""
        import numpy as np

        path = None if self.root is None else self._path(chat)
        if path is not None and path.is_file():
            self.hits += 1
            return np.load(path, allow_pickle=False)
        self.misses += 1
        with classifier.scorer.session():
            state = classifier.scorer.score(chat, hidden=True).hidden
        if path is not None:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                np.save(fh, state, allow_pickle=False)
            os.replace(tmp, path)
        return state


def features(
    classifier: LogprobJudgeClassifier,
    spec_name: str,
    paths: list[Path],
    policy: Any,
    progress: bool,
    cache: FeatureCache,
) -> tuple[Any, Any, list[str], list[str], dict[str, Any]]:
    """Hidden states at the answer position for every gradable item of the judge's settings."""
    import numpy as np
    from tqdm import tqdm

    spec = load_score_spec(spec_name)
    rows, skipped = [], {"no_gold": 0, "other_setting": 0, "no_answer": 0}
    for path in paths:
        for i, item in enumerate(load_labelled(path)):
            gold = (item.get("labels") or {}).get("noncompliant")
            if spec.settings and item.get("setting") not in spec.settings:
                skipped["other_setting"] += 1
            elif gold is None:
                skipped["no_gold"] += 1
            else:
                rows.append((path.name, i, item, bool(gold)))
    x, y, ids, files = [], [], [], []
    for name, i, item, gold in tqdm(rows, desc=f"fit-probe {spec.name}", disable=not progress, unit="transcript"):
        t = to_transcript(item, i, policy)
        if not t.valid:
            skipped["no_answer"] += 1
            continue
        x.append(cache.hidden(classifier, classifier.compliance_chat(spec, t)))
        y.append(gold)
        ids.append(str(item.get("id", f"{name}:{i}")))
        files.append(name)
    return np.array(x), np.array(y, dtype=float), ids, files, skipped


def main(argv: list[str]) -> int:
    opts, overrides = split_args(argv, OWN_OPTIONS, prefix=None)
    for key in ("judge", "file", "out"):
        if not opts.get(key):
            raise AfxError(f"fit-probe needs {key}=... (usage: afx fit-probe judge=NAME file=A.jsonl out=P.json)")
    paths = [Path(p) for p in opts["file"].split(",") if p]
    for path in paths:
        if not path.is_file():
            raise AfxError(f"file={path}: no such labelled file")
    c = _number(opts, "C", 0.1, 1e-6)
    threshold = _number(opts, "threshold", 0.5, 0.0, 1.0)
    folds = int(_number(opts, "folds", 5, 2))
    spec = load_score_spec(opts["judge"])
    if spec.label != "compliance":
        raise AfxError(f"judge={spec.name} is a {spec.label} judge; probes are fitted on compliance judges")
    if not any(o.split("=", 1)[0] in ("classifier", "model") for o in overrides):
        overrides = ["model=local", *overrides]  # the default: llm_judge_local with the embedded model
    cfg = compose_config(overrides)
    clf_cfg = OmegaConf.to_container(cfg.classifier, resolve=True)
    assert isinstance(clf_cfg, dict)
    if clf_cfg.get("kind") != "logprob_judge":
        raise AfxError(
            f"classifier={clf_cfg.get('name')} is not a log-probability judge (use classifier=llm_judge_local)"
        )
    clf_cfg.update(compliance_judges=[spec.name], compliance_probes={}, af_judge=None, cache_path=None)
    classifier = LogprobJudgeClassifier(clf_cfg)
    identity = classifier.scorer.identity()
    if not identity.get("model_sha256"):
        raise AfxError("fit-probe needs a local (llama.cpp) judge model: an OpenAI-style server gives no hidden states")
    start = time.perf_counter()
    policy = parse_policy_for(cfg, overrides)
    cache = FeatureCache(Path(opts["cache"]) if opts.get("cache") else None, identity["model_sha256"])
    x, y, ids, files, skipped = features(classifier, spec.name, paths, policy, opts.get("progress") != "false", cache)
    if len(set(y.tolist())) != 2:
        raise AfxError(f"the labelled files give {len(y)} gradable {spec.name} items, not both classes: nothing to fit")
    mean, scale, weights, bias = fit_logistic(x, y, c)
    probe = {
        "name": opts.get("name") or Path(opts["out"]).stem,
        "judge_spec": spec.name,
        "prompt_sha256": spec.prompt_sha256,
        "model_sha256": identity["model_sha256"],
        "judge_model": classifier.judge_name,
        "threshold": threshold,
        "C": c,
        "n_features": int(x.shape[1]),
        "trained_on": [
            {
                "file": p.name,
                "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                "n": files.count(p.name),
                "n_noncompliant": int(sum(g for g, f in zip(y, files, strict=True) if f == p.name)),
            }
            for p in paths
        ],
        "skipped": skipped,
        "feature_cache": None if cache.root is None else {"hits": cache.hits, "misses": cache.misses},
        "estimates": estimates(x, y, ids, files, c, threshold, folds),
        "note": "cross-validated on the training files: not a held-out validation (afx validate-classifier)",
        "fitted": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "fit_seconds": round(time.perf_counter() - start, 1),
        "bias": bias,
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "weights": [round(float(v), 8) for v in weights],
    }
    out = Path(opts["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(probe, indent=1) + "\n", encoding="utf-8")
    print(f"afx fit-probe: {spec.name} on {len(y)} transcripts ({int(y.sum())} non-compliant) -> {out}")
    if cache.root is not None:
        print(f"  feature cache {cache.root}: {cache.hits} read, {cache.misses} computed")
    for key, value in probe["estimates"].items():
        print(f"  {key}: n={value['n']} kappa={value['kappa']} auroc={value['auroc']}")
    return 0
