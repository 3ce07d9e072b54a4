"""Model backends behind one interface; `make_backend` picks one from the model config."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from afx.backends.base import Backend, Generation, GenerationRequest
from afx.errors import AfxError

__all__ = ["Backend", "Generation", "GenerationRequest", "make_backend"]
_BACKENDS: dict[str, Backend] = {}


def make_backend(model: Mapping[str, Any]) -> Backend:
    """One backend object per distinct model config per process (jobs of a multirun share it)."""
    key = json.dumps(model, sort_keys=True, default=str)
    if key not in _BACKENDS:
        kind = model.get("backend")
        if kind == "local":
            from afx.backends.local import LocalBackend

            backend: Backend = LocalBackend(model)
        elif kind == "simulated":
            from afx.backends.simulated import SimulatedBackend

            backend = SimulatedBackend(model)
        else:
            raise AfxError(f"model.backend={kind!r} is not known (known: local, simulated)")
        if kind == "local":
            _BACKENDS.clear()
        _BACKENDS[key] = backend
    return _BACKENDS[key]
