"""Where afx keeps things on disk."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


def conf_dir() -> Path:
    """The bundled config directory: top-level conf/ in a checkout, afx/conf in a wheel."""
    packaged = Path(__file__).parent / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "conf"


def data_dir() -> Path:
    """Data files shipped inside the package (queries, few-shot examples)."""
    return Path(__file__).parent / "data"


def model_cache_dir() -> Path:
    """Where assembled GGUF files live (override with AFX_MODEL_CACHE)."""
    return Path(os.environ.get("AFX_MODEL_CACHE") or user_cache_dir("afx")) / "models"
