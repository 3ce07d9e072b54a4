"""Headless Chromium (Debian's package) for the viewer tests and the MLflow UI check: find it, run it once."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

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
INSTALL_HINT = "run scripts/ensure_chromium.sh (apt-get install -y chromium) as root"


def chromium_path() -> str | None:
    """AFX_CHROMIUM, else Debian's /usr/bin/chromium (or chromium / chromium-browser on PATH); None if absent."""
    for candidate in (os.environ.get("AFX_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def run_chromium(url: str, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One headless run on `url` with a fresh profile; `extra` adds --dump-dom, --screenshot=..., etc."""
    exe = chromium_path()
    if exe is None:
        raise FileNotFoundError(f"headless Chromium not found: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="afx-chromium-") as profile:
        return subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
