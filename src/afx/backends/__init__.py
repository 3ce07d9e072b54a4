"""Model backends behind one interface; `make_backend` picks one from the model config."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any

from afx.backends.base import Backend, Generation, GenerationRequest
from afx.errors import AfxError

__all__ = ["BACKENDS", "Backend", "Generation", "GenerationRequest", "release_backends", "make_backend"]
# model.backend -> "module:Class"; a model YAML may also name any "module:Class" directly.
BACKENDS: dict[str, str] = {
    "anthropic": "afx.backends.anthropic_api:AnthropicBackend",
    "local": "afx.backends.local:LocalBackend",
    "openai_compatible": "afx.backends.openai_compat:OpenAICompatibleBackend",
    "simulated": "afx.backends.simulated:SimulatedBackend",
}
_INSTANCES: dict[str, Backend] = {}


def backend_class(name: str) -> type:
    """The class behind a backend name or a "module:Class" path."""
    target = BACKENDS.get(name, name)
    module, _, cls = target.partition(":")
    if not cls:
        raise AfxError(f"model.backend={name!r} is not known (known: {', '.join(BACKENDS)}, or module:Class)")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise AfxError(f"model.backend={name!r}: cannot load {target} ({exc})") from exc


def make_backend(model: Mapping[str, Any]) -> Backend:
    """One backend object per distinct model config per process (jobs of a multirun share it)."""
    key = json.dumps(model, sort_keys=True, default=str)
    if key not in _INSTANCES:
        cls = backend_class(str(model.get("backend")))
        if getattr(cls, "exclusive", False):  # e.g. an in-process model: never hold two at once
            _INSTANCES.clear()
        _INSTANCES[key] = cls(model)
    return _INSTANCES[key]


def release_backends() -> None:
    """At a job's end: each backend's `release()` (e.g. stop request processes); its next call starts them again."""
    for backend in list(_INSTANCES.values()):
        release = getattr(backend, "release", None)
        if release is not None:
            release()
