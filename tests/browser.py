"""Headless Debian Chromium for tests (importable as `browser`): find it, dump a page's DOM, take a screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium_path() -> str | None:
    """AFX_CHROMIUM, else Debian's /usr/bin/chromium (or chromium / chromium-browser on PATH)."""
    for candidate in (os.environ.get("AFX_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


_skip_without_chromium = pytest.mark.skipif(
    chromium_path() is None,
    reason="headless Chromium not installed: run scripts/ensure_chromium.sh (apt-get install -y chromium) as root",
)


def requires_chromium(test):  # noqa: ANN001, ANN201 - a pytest decorator
    """Mark a test `browser` and skip it, with the reason, where Chromium is missing."""
    return pytest.mark.browser(_skip_without_chromium(test))


def run_chromium(url: str, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run on `url` with a fresh profile; `extra` adds --dump-dom, --screenshot=..."""
    exe = chromium_path()
    assert exe, "chromium not installed"
    with tempfile.TemporaryDirectory(prefix="afx-chromium-") as profile:
        return subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


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
