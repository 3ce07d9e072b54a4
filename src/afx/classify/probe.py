"""A linear probe on the judge model's hidden state: a compliance label learned from labelled transcripts.

The log-probability judge reads P(yes) at the answer position, which is one fixed direction of the model's final
hidden state there. A probe learns that direction from labelled transcripts instead: the same forward pass, the
hidden state standardised, then `P(non-compliant) = sigmoid(w . z + b)`. It is tied to the judge model (its
sha256) and to the judge prompt (its sha256) it was fitted with; either changing is an error, not a silent shift.

Probe files are JSON (afx/data/probes/<name>.json, or a path), written by `afx fit-probe` (afx/classify/probe_fit.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afx.errors import AfxError
from afx.paths import data_dir

PROBE_KEYS = ("name", "judge_spec", "prompt_sha256", "model_sha256", "mean", "scale", "weights", "bias", "threshold")


@dataclass(frozen=True)
class Probe:
    """Standardisation, weights and threshold of one probe, with what it was fitted on."""

    name: str
    judge_spec: str
    prompt_sha256: str
    model_sha256: str
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    sha256: str
    raw: Mapping[str, Any]

    def p_noncompliant(self, hidden: Any) -> float:
        """sigmoid(w . (h - mean) / scale + b) for one hidden state."""
        import numpy as np

        h = np.asarray(hidden, dtype=np.float64)
        if h.shape != (len(self.weights),):
            raise AfxError(
                f"probe {self.name} expects a hidden state of {len(self.weights)} values, the judge gave {h.shape}"
            )
        return float(logistic(h, self.mean, self.scale, self.weights, self.bias))

    def check(self, spec_name: str, prompt_sha256: str, model_sha256: str | None) -> None:
        """The probe was fitted on this judge prompt and this judge model; else one line, before any call."""
        if spec_name != self.judge_spec or prompt_sha256 != self.prompt_sha256:
            raise AfxError(
                f"probe {self.name} was fitted on judge prompt {self.judge_spec} ({self.prompt_sha256[:16]}), "
                f"not {spec_name} ({prompt_sha256[:16]}): refit it with `afx fit-probe`"
            )
        if model_sha256 != self.model_sha256:
            raise AfxError(
                f"probe {self.name} was fitted on judge model sha256 {self.model_sha256[:16]}, "
                f"but classifier.judge is {str(model_sha256)[:16]}: refit it with `afx fit-probe`"
            )


def logistic(x: Any, mean: Any, scale: Any, weights: Any, bias: float) -> Any:
    """sigmoid(w . (x - mean) / scale + b) for one hidden state or a matrix of them (tanh form: no overflow)."""
    import numpy as np

    z = ((np.asarray(x, dtype=np.float64) - np.asarray(mean)) / np.asarray(scale)) @ np.asarray(weights) + bias
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def probe_path(name: str) -> Path:
    return Path(name) if name.endswith(".json") else data_dir() / "probes" / f"{name}.json"


def load_probe(name: str) -> Probe:
    """A probe by name (afx/data/probes/<name>.json) or path; validated."""
    path = probe_path(name)
    if not path.is_file():
        shipped = sorted(p.stem for p in (data_dir() / "probes").glob("*.json"))
        raise AfxError(f"probe '{name}' not found (shipped: {', '.join(shipped) or 'none'})")
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AfxError(f"probe {path}: broken JSON: {exc}") from exc
    missing = [k for k in PROBE_KEYS if k not in raw]
    if missing:
        raise AfxError(f"probe {path}: missing {', '.join(missing)}")
    n = len(raw["weights"])
    if not n or len(raw["mean"]) != n or len(raw["scale"]) != n or min(raw["scale"]) <= 0:
        raise AfxError(f"probe {path}: mean, scale and weights need the same length and positive scales")
    return Probe(
        name=str(raw["name"]),
        judge_spec=str(raw["judge_spec"]),
        prompt_sha256=str(raw["prompt_sha256"]),
        model_sha256=str(raw["model_sha256"]),
        mean=tuple(float(x) for x in raw["mean"]),
        scale=tuple(float(x) for x in raw["scale"]),
        weights=tuple(float(x) for x in raw["weights"]),
        bias=float(raw["bias"]),
        threshold=float(raw["threshold"]),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        raw=raw,
    )


def fit_logistic(x: Any, y: Any, c: float, iterations: int = 100) -> tuple[Any, Any, Any, float]:
    """L2-penalised logistic regression on standardised features (penalty 1/(2c) |w|^2, bias free), by Newton's
    method: deterministic and exact to tolerance. Returns mean, scale, weights, bias."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(set(y.tolist())) != 2:
        raise AfxError("a probe needs a 2-D feature matrix and labels of both classes")
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    penalty = np.full(z.shape[1], 1.0 / c)
    penalty[-1] = 0.0
    beta = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -500, 500)))
        grad = z.T @ (p - y) + penalty * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return mean, scale, beta[:-1], float(beta[-1])
