"""Headless Debian Chromium for tests (importable as `browser`): find it, dump a page's DOM, take a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from afx.testing.chromium import INSTALL_HINT, chromium_path, run_chromium

__all__ = ["chromium_path", "dump_dom", "requires_chromium", "run_chromium", "screenshot"]

_skip_without_chromium = pytest.mark.skipif(
    chromium_path() is None,
    reason=f"headless Chromium not installed: {INSTALL_HINT}",
)


def requires_chromium(test):  # noqa: ANN001, ANN201 - a pytest decorator
    """Mark a test `browser` and skip it, with the reason, where Chromium is missing."""
    return pytest.mark.browser(_skip_without_chromium(test))


def dump_dom(url: str, budget_ms: int = 0) -> str:
    """The DOM after the page's scripts ran, serialised (Chromium's --dump-dom)."""
    extra = ("--dump-dom", *((f"--virtual-time-budget={budget_ms}",) if budget_ms else ()))
    done = run_chromium(url, *extra)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(url: str, out: Path, size: str = "1400,900", budget_ms: int = 0) -> Path:
    extra = [f"--screenshot={out}", f"--window-size={size}", "--hide-scrollbars"]
    if budget_ms:
        extra.append(f"--virtual-time-budget={budget_ms}")
    done = run_chromium(url, *extra)
    assert done.returncode == 0 and out.is_file(), done.stderr[-2000:]
    return out
