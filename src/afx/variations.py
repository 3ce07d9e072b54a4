"""Apply variation overlays to a setting at compose time (declarative ops; loud on a bad anchor).

Ops, applied in order, each naming a dotted `path` inside the setting (blocks.x, slots.y,
entities.company, tier_cue.mode, examples, ...):
  {op: set, path, value}            replace the value (a block, a slot, an entity, a list...)
  {op: remove, path}                empty a block or slot (it disappears from the prompt)
  {op: append, path, text}          add text at the end of a block or slot
  {op: replace_text, path, old, new}  replace an anchor sentence inside a block or slot (must be found)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from afx.errors import AfxError

OPS = ("set", "remove", "append", "replace_text")


def _parent(tree: dict[str, Any], path: str, where: str, must_exist: bool) -> tuple[dict[str, Any], str]:
    keys = path.split(".")
    node: Any = tree
    for key in keys[:-1]:
        if not isinstance(node, dict) or key not in node:
            raise AfxError(f"{where}: path '{path}' does not exist in the setting")
        node = node[key]
    if not isinstance(node, dict) or (must_exist and keys[-1] not in node):
        known = ", ".join(node) if isinstance(node, dict) else "nothing"
        raise AfxError(f"{where}: '{path}' does not exist in the setting (siblings: {known})")
    return node, keys[-1]


def apply_variations(setting: Mapping[str, Any], variations: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A new setting dict with every variation's ops applied in stacking order."""
    result = copy.deepcopy(dict(setting))
    name = result.get("name")
    for var_name, spec in variations.items():
        allowed = spec.get("settings") or []
        if allowed and name not in allowed:
            raise AfxError(
                f"variation {var_name}: does not apply to setting '{name}' (applies to: {', '.join(allowed)})"
            )
        for i, op in enumerate(spec.get("ops") or []):
            where = f"variation {var_name} op #{i + 1} ({op.get('op')} {op.get('path')})"
            kind = op.get("op")
            if kind not in OPS:
                raise AfxError(f"{where}: unknown op (known: {', '.join(OPS)})")
            parent, key = _parent(result, str(op.get("path", "")), where, must_exist=kind != "set")
            if kind == "set":
                parent[key] = copy.deepcopy(op.get("value"))
            elif kind == "remove":
                parent[key] = ""
            elif kind == "append":
                parent[key] = (parent[key] or "").rstrip("\n") + "\n" + str(op["text"])
            else:
                old = str(op.get("old", ""))
                if not old or old not in str(parent[key] or ""):
                    raise AfxError(f"{where}: anchor text not found: {old[:80]!r}")
                parent[key] = str(parent[key]).replace(old, str(op.get("new", "")), 1)
    return result
