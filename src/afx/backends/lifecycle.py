"""Retired and deprecated model ids, checked before any call (one line, not a failed sweep).

Two sources: afx's table of retired ids (afx/data/models/retired.yaml, dated) and the anthropic SDK's own
deprecation table (ids with an end-of-life date). An id is retired when either source dates its end on or
before today; a future end-of-life date gives a warning. `model.allow_retired: true` lets a lab with continued
access (e.g. research access to an old snapshot) use a retired id anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from afx.errors import AfxError
from afx.paths import data_dir

log = logging.getLogger(__name__)
_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)")
_warned: set[str] = set()  # one warning per model id and process


def _warn_once(message: str, *args: Any) -> None:
    text = message % args
    if text not in _warned:
        _warned.add(text)
        log.warning(text)


@dataclass(frozen=True)
class Lifecycle:
    """What is known about one model id: when it ends (None = not known to end) and what replaces it."""

    model_id: str
    end: dt.date | None
    replacement: str | None
    source: str

    def retired(self, today: dt.date) -> bool:
        return self.end is not None and self.end <= today


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, Any]]:
    raw = yaml.safe_load((data_dir() / "models" / "retired.yaml").read_text(encoding="utf-8")) or {}
    return {str(backend): dict(ids or {}) for backend, ids in raw.items()}


def _sdk_end_of_life() -> dict[str, str]:
    """The anthropic SDK's deprecation table (a private module, so guarded): id -> 'June 30th, 2026'."""
    try:
        from anthropic._data import DEPRECATED_MODELS
    except ImportError:
        return {}
    return dict(DEPRECATED_MODELS)


def _sdk_date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(_ORDINAL.sub(r"\1", text.strip()), "%B %d, %Y").date()
    except ValueError:
        return None


def lifecycle(backend: str, model_id: str) -> Lifecycle | None:
    """The known end of `model_id` on `backend`, from afx's table first, then the SDK's (anthropic only)."""
    entry = _table().get(backend, {}).get(model_id)
    if entry is not None:
        end = entry.get("retired")
        end = end if isinstance(end, dt.date) else dt.date.fromisoformat(str(end))
        return Lifecycle(model_id, end, entry.get("replacement"), "afx/data/models/retired.yaml")
    if backend == "anthropic" and (text := _sdk_end_of_life().get(model_id)):
        return Lifecycle(model_id, _sdk_date(text), None, "the anthropic SDK's deprecation table")
    return None


def check_model_id(backend: str, model: Mapping[str, Any], role: str = "model", today: dt.date | None = None) -> None:
    """Raise one line when `model.name` is retired (unless `model.allow_retired`); warn when it is deprecated."""
    model_id = str(model.get("name") or "")
    known = lifecycle(backend, model_id)
    if known is None or known.end is None:
        return
    today = today or dt.date.today()
    if not known.retired(today):
        _warn_once("%s %s is deprecated: it reaches end-of-life on %s (%s)", role, model_id, known.end, known.source)
        return
    if model.get("allow_retired"):
        _warn_once("%s %s was retired on %s; used anyway (allow_retired=true)", role, model_id, known.end)
        return
    instead = f"; use {known.replacement} instead" if known.replacement else ""
    raise AfxError(
        f"{role} {model_id} was retired on {known.end} ({known.source}): the API no longer serves it{instead}, "
        "or set allow_retired=true if your organisation still has access "
        "(model.allow_retired=true; classifier.judge.allow_retired=true for a judge)"
    )
