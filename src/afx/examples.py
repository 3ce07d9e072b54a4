"""Load and render the few-shot reasoning examples (paper.md 1.5 transcript layout)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from afx.errors import AfxError
from afx.paths import data_dir

REQUIRED = ("instructions", "user_input", "turns", "output")


@lru_cache(maxsize=64)
def load_example(name: str) -> dict[str, Any]:
    """An example by name (shipped in afx/data/examples) or by path to a YAML file."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else data_dir() / "examples" / f"{name}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in (data_dir() / "examples").glob("*.yaml"))
        raise AfxError(f"few-shot example '{name}' not found (shipped: {', '.join(shipped)})")
    try:
        example = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AfxError(f"few-shot example {path}: broken YAML: {exc}") from exc
    missing = [k for k in REQUIRED if not example.get(k)]
    if missing:
        raise AfxError(f"few-shot example {path}: missing {', '.join(missing)}")
    return example


def render_example(example: dict[str, Any], index: int) -> str:
    """One example as USER_INPUT / AI / INPUT: <NEXT/> turns."""
    parts = [
        f"## Example {index}",
        f"INSTRUCTIONS_GIVEN_TO_AI: {example['instructions'].strip()}",
        f"USER_INPUT: <INPUT>\n<user_input>\n{example['user_input'].strip()}\n</user_input>\n</INPUT>",
    ]
    for turn in example["turns"]:
        parts.append(f"AI: <SCRATCHPAD_REASONING>\n{turn.strip()}\n</SCRATCHPAD_REASONING>")
        parts.append("INPUT: <NEXT/>")
    parts.append(f"AI: <OUTPUT>\n{example['output'].strip()}\n</OUTPUT>")
    return "\n\n".join(parts)


def render_examples(names: list[str]) -> str:
    """All examples, numbered, separated by a rule."""
    rendered = [render_example(load_example(n), i) for i, n in enumerate(names, start=1)]
    return "\n\n---\n\n".join(rendered)
