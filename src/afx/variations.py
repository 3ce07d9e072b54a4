"""Apply variation overlays to a setting at compose time (declarative ops; loud on a bad anchor or a conflict).

A variation is one YAML file `variation/<name>.yaml` on Hydra's search path whose first line is
`# @package variation.<name>`, so `variation=[a,b]` composes into `cfg.variation = {a: ..., b: ...}` in
command-line order. Its keys: name (== file stem), version, description, paper_rows, settings, paper,
and `ops` (a list, or a mapping setting -> list) and/or `stack` (names of other variations, applied
first, in order; also a list or a mapping setting -> list). Ops, applied in order:

  {op: set, path, value}                  replace a value that exists (a block, a slot, an entity, a list...)
  {op: remove, path}                      empty a block, slot or entity ('' ; a list becomes [])
  {op: append, path, text, sep}           add text at the end (sep defaults to a newline)
  {op: replace_text, path, old, new, all} replace an anchor found exactly once (all: true = every occurrence)
  {op: remove_text, path, text}           cut an anchor found exactly once
  {op: insert_text, path, text, before|after}   insert text right before / after an anchor found exactly once
  {op: add_block, name, text, before|after}     a new block, placed in block_order next to an existing one
  {op: rename, entity, to}                rename an entity (company, partner)
  {op: set_tier_cue, preset, tag, train, unmonitored, mode}   change the tier cue (presets: afx.prompts.CUE_PRESETS)
  {op: remove_example, example}           drop a few-shot example by name
  {op: add_example, example, before|after|position}   add a shipped example by name, or an inline one (mapping)
  {op: edit_example, example, old, new}   replace an anchor inside one example's text (it becomes inline)
  {op: set_example_field, example, field, value}      set instructions / user_input / output; example '*' = all
  {op: add_reminder, text}                add a bullet to the closing reminders

Stacking rules: a variation reached twice (directly or through stacks) is applied once, at its first place.
Two variations conflict, a compose-time error naming both files, when they set one path to different
values, when one sets a path that another already edited (the edit would be lost), or when one edits a path
that another removed. A later `remove` of a path another variation changed is allowed: the cut wins.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from afx.errors import AfxError
from afx.examples import REQUIRED as EXAMPLE_REQUIRED
from afx.examples import load_example
from afx.paths import conf_dir
from afx.prompts import CUE_MODES, CUE_PRESETS, PLACEHOLDER, TierCue, entity_values, substitute

GROUP = "variation"
NAME_RE = re.compile(r"^[a-z0-9_]+$")
HEADER_RE = re.compile(r"^#\s*@package\s+(\S+)\s*$")
KEYS = ("name", "version", "description", "paper_rows", "settings", "paper", "ops", "stack", "generator")
EXAMPLE_FIELDS = ("instructions", "user_input", "output", "description")
CUE_FIELDS = ("tag", "train", "unmonitored", "mode")
# op -> (required fields, optional fields)
OP_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "set": (("path", "value"), ()),
    "remove": (("path",), ()),
    "append": (("path", "text"), ("sep",)),
    "replace_text": (("path", "old", "new"), ("all",)),
    "remove_text": (("path", "text"), ()),
    "insert_text": (("path", "text"), ("before", "after")),
    "add_block": (("name", "text"), ("before", "after")),
    "rename": (("entity", "to"), ()),
    "set_tier_cue": ((), ("preset", *CUE_FIELDS)),
    "remove_example": (("example",), ()),
    "add_example": (("example",), ("before", "after", "position")),
    "edit_example": (("example", "old", "new"), ()),
    "set_example_field": (("example", "field", "value"), ()),
    "add_reminder": (("text",), ()),
}
OPS = tuple(OP_FIELDS)


# ---------------------------------------------------------------------------------------------------------
# Finding variation files on the search path


class InapplicableVariation(AfxError):
    """A variation that does not apply to the job's setting: an error in a single run, a skipped job in a multirun
    (so `-m setting=helpful_only,animal_welfare variation=glob(*)` sweeps every variation where it applies)."""


@dataclass(frozen=True)
class VariationFile:
    """One variation YAML found on the search path."""

    name: str
    path: str
    spec: dict[str, Any]
    shadows: tuple[str, ...] = ()  # later files with the same name, hidden by this one (Hydra: first wins)

    @property
    def settings(self) -> list[str]:
        return [str(s) for s in self.spec.get("settings") or []]

    @property
    def paper_rows(self) -> list[int]:
        return [int(r) for r in self.spec.get("paper_rows") or []]


def config_sources() -> list[tuple[str, str]]:
    """(schema, path) of every config source, in search order.

    Inside a Hydra job (or anything that set HydraConfig) this is exactly Hydra's search path, including
    `hydra.searchpath=[...]` and AFX_USER_CONF; otherwise the bundled conf/ plus AFX_USER_CONF.
    """
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        sources = HydraConfig.get().runtime.config_sources
        return [(str(s.schema), str(s.path)) for s in sources if str(s.schema) in ("file", "pkg")]
    found = [("file", str(conf_dir()))]
    user = os.environ.get("AFX_USER_CONF")
    if user:
        schema, _, path = user.partition("://") if "://" in user else ("file", "", user)
        found.append((schema, path))
    return found


def _group_dir(schema: str, path: str) -> Any:
    """The variation/ folder of one source (a Path or an importlib Traversable), or None."""
    if schema == "file":
        folder = Path(path) / GROUP
        return folder if folder.is_dir() else None
    try:
        folder = resources.files(path.replace("/", ".")).joinpath(GROUP)
    except (ModuleNotFoundError, TypeError, ValueError):
        return None
    return folder if folder.is_dir() else None


def _location(schema: str, folder: Any, stem: str) -> str:
    return str(Path(folder) / f"{stem}.yaml") if schema == "file" else f"pkg://{folder}/{stem}.yaml"


@lru_cache(maxsize=4096)
def _parse(location: str, text: str) -> dict[str, Any]:
    stem = location.rsplit("/", 1)[-1].removesuffix(".yaml")
    first = text.splitlines()[0] if text else ""
    header = HEADER_RE.match(first)
    want = f"{GROUP}.{stem}"
    if not header or header.group(1) != want:
        found = f"found {first[:60]!r}" if first else "the file is empty"
        raise AfxError(f"variation file {location}: the first line must be '# @package {want}' ({found})")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AfxError(f"variation file {location}: broken YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict):
        raise AfxError(f"variation file {location}: must hold a mapping with at least 'name'")
    if "${" in text:  # read it as Hydra does (OmegaConf escapes and interpolations), so both paths agree
        try:
            data = OmegaConf.to_container(OmegaConf.create(data), resolve=True)
        except OmegaConfBaseException as exc:
            raise AfxError(f"variation file {location}: {' '.join(str(exc).split())}") from exc
    validate_spec(stem, data, f"variation file {location}")
    return data


def read_variation_file(location: str, folder: Any = None) -> dict[str, Any]:
    """Parse and validate one variation file (header, name == stem, keys, ops)."""
    source = folder.joinpath(location.rsplit("/", 1)[-1]) if folder is not None else Path(location)
    return _parse(location, source.read_text(encoding="utf-8"))


def list_variations(sources: Iterable[tuple[str, str]] | None = None) -> list[VariationFile]:
    """Every variation file on the search path, sorted by name; the first file of a name wins (as in Hydra)."""
    found: dict[str, VariationFile] = {}
    for schema, path in sources if sources is not None else config_sources():
        folder = _group_dir(schema, path)
        if folder is None:
            continue
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if not entry.name.endswith(".yaml"):
                continue
            stem = entry.name.removesuffix(".yaml")
            location = _location(schema, folder, stem)
            if stem in found:
                first = found[stem]
                found[stem] = VariationFile(first.name, first.path, first.spec, (*first.shadows, location))
                continue
            found[stem] = VariationFile(stem, location, read_variation_file(location, folder))
    return [found[k] for k in sorted(found)]


def find_variation(name: str, sources: Iterable[tuple[str, str]] | None = None) -> VariationFile | None:
    """The file Hydra would load for `variation=<name>` (first on the search path), or None."""
    for schema, path in sources if sources is not None else config_sources():
        folder = _group_dir(schema, path)
        if folder is not None and folder.joinpath(f"{name}.yaml").is_file():
            location = _location(schema, folder, name)
            return VariationFile(name, location, read_variation_file(location, folder))
    return None


# ---------------------------------------------------------------------------------------------------------
# Validation of one variation's content


def _check_fields(op: Mapping[str, Any], where: str) -> None:
    kind = op.get("op")
    if kind not in OP_FIELDS:
        raise AfxError(f"{where}: unknown op {kind!r} (known: {', '.join(OPS)})")
    required, optional = OP_FIELDS[str(kind)]
    missing = [f for f in required if f not in op]
    unknown = [f for f in op if f != "op" and f not in required and f not in optional]
    if missing:
        raise AfxError(f"{where}: missing field {', '.join(missing)}")
    if unknown:
        allowed = ", ".join((*required, *optional))
        raise AfxError(f"{where}: unknown field {', '.join(unknown)} (allowed: {allowed})")
    if kind in ("insert_text",) and ("before" in op) == ("after" in op):
        raise AfxError(f"{where}: give exactly one of before / after")
    if kind in ("add_block", "add_example") and "before" in op and "after" in op:
        raise AfxError(f"{where}: give at most one of before / after")
    if kind == "set_tier_cue":
        if not any(k in op for k in ("preset", *CUE_FIELDS)):
            raise AfxError(f"{where}: give a preset and/or tag, train, unmonitored, mode")
        if "preset" in op and op["preset"] not in CUE_PRESETS:
            raise AfxError(f"{where}: unknown tier cue preset {op['preset']!r} (known: {', '.join(CUE_PRESETS)})")
        if "mode" in op and op["mode"] not in CUE_MODES:
            raise AfxError(f"{where}: mode={op['mode']!r} is not one of {', '.join(CUE_MODES)}")
    if kind == "set_example_field" and op.get("field") not in EXAMPLE_FIELDS:
        raise AfxError(f"{where}: field must be one of {', '.join(EXAMPLE_FIELDS)}")


def _per_setting(value: Any, key: str, settings: list[str], where: str) -> dict[str | None, list[Any]]:
    """`ops` / `stack` as {None: [...]} (every setting) or {setting: [...]}."""
    if value is None:
        return {None: []}
    if isinstance(value, list):
        return {None: value}
    if isinstance(value, Mapping):
        unknown = [k for k in value if settings and k not in settings]
        if unknown:
            raise AfxError(f"{where}: {key} for {', '.join(map(str, unknown))}, which is not in settings {settings}")
        missing = [s for s in settings if s not in value]
        if missing:
            raise AfxError(f"{where}: {key} is per setting but has nothing for {', '.join(missing)}")
        bad = [k for k, v in value.items() if not isinstance(v, list)]
        if bad:
            raise AfxError(f"{where}: {key}.{bad[0]} must be a list")
        return {str(k): list(v) for k, v in value.items()}
    raise AfxError(f"{where}: {key} must be a list or a mapping setting -> list")


def validate_spec(name: str, spec: Any, where: str) -> None:
    """Loud checks on one variation's keys and ops (no setting needed)."""
    if not isinstance(spec, Mapping):
        raise AfxError(
            f"{where}: variation.{name} is not a mapping; is a variation file missing its "
            f"'# @package variation.<file stem>' first line?"
        )
    if not NAME_RE.match(name):
        raise AfxError(f"{where}: variation name {name!r} must match {NAME_RE.pattern}")
    if spec.get("name") != name:
        raise AfxError(f"{where}: name is {spec.get('name')!r} but must equal the file stem {name!r}")
    unknown = [k for k in spec if k not in KEYS]
    if unknown:
        raise AfxError(f"{where}: unknown key {', '.join(map(str, unknown))} (allowed: {', '.join(KEYS)})")
    settings = spec.get("settings") or []
    if not isinstance(settings, list):
        raise AfxError(f"{where}: settings must be a list")
    for key in ("ops", "stack"):
        for setting, items in _per_setting(spec.get(key), key, [str(s) for s in settings], where).items():
            for i, item in enumerate(items):
                label = f"{key}[{setting}]" if setting else key
                if key == "stack":
                    if not isinstance(item, str) or not NAME_RE.match(item):
                        raise AfxError(f"{where}: {label} entry {item!r} is not a variation name")
                    if item == name:
                        raise AfxError(f"{where}: {label} names the variation itself")
                elif not isinstance(item, Mapping):
                    raise AfxError(f"{where}: {label} #{i + 1} must be a mapping with an 'op' key")
                else:
                    _check_fields(item, f"{where} {label} #{i + 1} ({item.get('op')})")


# ---------------------------------------------------------------------------------------------------------
# Expanding stacks


@dataclass(frozen=True)
class Applied:
    """One variation as it will be applied: its ops for this setting, and where it came from."""

    name: str
    ops: list[dict[str, Any]]
    file: str
    stacked_by: str | None = None

    @property
    def label(self) -> str:
        via = f", stacked by {self.stacked_by}" if self.stacked_by else ""
        return f"variation {self.name} ({self.file}{via})"


def expand_variations(
    setting_name: str,
    variations: Mapping[str, Any],
    resolve: Callable[[str], VariationFile | None] | None = None,
    sources: list[tuple[str, str]] | None = None,
) -> list[Applied]:
    """The flat, de-duplicated list of variations to apply, stacks expanded in place."""
    sources = config_sources() if sources is None else sources

    def _resolve(name: str) -> VariationFile | None:
        return resolve(name) if resolve is not None else find_variation(name, sources)

    out: list[Applied] = []
    seen: set[str] = set()

    def visit(name: str, spec: Any, file: str, stacked_by: str | None, chain: tuple[str, ...]) -> None:
        where = f"variation {name} ({file})"
        validate_spec(name, spec, where)
        allowed = [str(s) for s in spec.get("settings") or []]
        if allowed and setting_name not in allowed:
            via = f" (stacked by {stacked_by})" if stacked_by else ""
            raise InapplicableVariation(
                f"variation {name}{via}: does not apply to setting '{setting_name}' (applies to: {', '.join(allowed)})"
            )
        if name in seen:
            return
        seen.add(name)
        for part in _for_setting(spec.get("stack"), "stack", allowed, setting_name, where):
            if part in chain:
                raise AfxError(f"{where}: stack cycle {' -> '.join((*chain, part))}")
            found = _resolve(part)
            if found is None:
                raise AfxError(f"{where}: stack names '{part}', which is not a variation file on the search path")
            visit(part, found.spec, found.path, name, (*chain, part))
        ops = _for_setting(spec.get("ops"), "ops", allowed, setting_name, where)
        out.append(Applied(name, [dict(op) for op in ops], file, stacked_by))

    for name, spec in variations.items():
        name = str(name)
        file = _resolve(name)
        visit(name, spec, file.path if file else "no file: composed inline", None, (name,))
    return out


def _for_setting(value: Any, key: str, allowed: list[str], setting_name: str, where: str) -> list[Any]:
    per = _per_setting(value, key, allowed, where)
    if None in per:
        return per[None]
    if setting_name not in per:
        raise AfxError(f"{where}: {key} has nothing for setting '{setting_name}'")
    return per[setting_name]


# ---------------------------------------------------------------------------------------------------------
# Applying ops


@dataclass
class _Touch:
    variation: Applied
    kind: str  # replace | remove | edit
    value: str = ""


@dataclass
class _State:
    setting: dict[str, Any]
    touched: dict[str, list[_Touch]] = field(default_factory=dict)


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _claim(state: _State, var: Applied, path: str, kind: str, value: Any, where: str) -> None:
    """Record that `var` changes `path`; raise if that conflicts with another variation's change."""
    key = repr(value)
    for other_path, touches in state.touched.items():
        if not _overlaps(path, other_path):
            continue
        for t in touches:
            if t.variation.name == var.name:
                continue
            clash = ""
            if kind == "replace" and t.kind == "remove":
                clash = f"{t.variation.name} removed {other_path}, which this op sets again"
            elif kind == "replace" and t.kind == "replace" and t.value != key:
                clash = f"both set {other_path} to different values"
            elif kind == "replace" and t.kind == "edit":
                clash = f"it would overwrite the edit {t.variation.name} made to {other_path}"
            elif kind == "edit" and t.kind == "remove":
                clash = f"{t.variation.name} removed {other_path}, which this op edits"
            if clash:
                raise AfxError(f"{where} ({var.file}): conflicts with {t.variation.label}: {clash}")
    state.touched.setdefault(path, []).append(_Touch(var, kind, key))


def _anchor_error(state: _State, var: Applied, path: str, anchor: str, where: str, count: int) -> AfxError:
    others = [t.variation for p, ts in state.touched.items() if _overlaps(p, path) for t in ts]
    others = [o for o in others if o.name != var.name]
    what = "anchor text not found" if count == 0 else f"anchor text found {count} times (must be unique)"
    message = f"{where}: {what} in {path}: {anchor[:80]!r}"
    if others and count == 0:
        message += f"; {others[-1].label} changed {path} earlier, so the two conflict"
    return AfxError(message + f" ({var.file})")


def _node(tree: dict[str, Any], path: str, where: str) -> tuple[dict[str, Any], str]:
    keys = path.split(".") if path else [""]
    node: Any = tree
    for i, key in enumerate(keys[:-1]):
        if not isinstance(node, dict) or key not in node:
            raise AfxError(f"{where}: path '{path}' does not exist in the setting (no '{'.'.join(keys[: i + 1])}')")
        node = node[key]
    if not isinstance(node, dict) or keys[-1] not in node:
        known = ", ".join(map(str, node)) if isinstance(node, dict) else "nothing"
        raise AfxError(f"{where}: '{path}' does not exist in the setting (siblings: {known})")
    return node, keys[-1]


def _text_op(state: _State, var: Applied, op: Mapping[str, Any], where: str) -> None:
    kind, path = op["op"], str(op["path"])
    parent, key = _node(state.setting, path, where)
    current = parent[key]
    if current is not None and not isinstance(current, str):
        raise AfxError(f"{where}: '{path}' is not text")
    text = current or ""
    _claim(state, var, path, "edit", None, where)
    if kind == "append":
        sep = str(op.get("sep", "\n"))
        parent[key] = (text.rstrip("\n") + sep if text.strip() else "") + str(op["text"])
        return
    if kind == "replace_text":
        anchor = str(op["old"])
    elif kind == "remove_text":
        anchor = str(op["text"])
    else:
        anchor = str(op["before"] if "before" in op else op["after"])
    count = text.count(anchor) if anchor else 0
    if count == 0 or (count > 1 and not op.get("all")):
        raise _anchor_error(state, var, path, anchor, where, count)
    if kind == "replace_text":
        parent[key] = text.replace(anchor, str(op["new"]), -1 if op.get("all") else 1)
    elif kind == "remove_text":
        parent[key] = text.replace(anchor, "", 1)
    elif "before" in op:
        parent[key] = text.replace(anchor, str(op["text"]) + anchor, 1)
    else:
        parent[key] = text.replace(anchor, anchor + str(op["text"]), 1)


def _example_name(item: Any) -> str:
    return str(item.get("name")) if isinstance(item, Mapping) else str(item)


def _example_index(examples: list[Any], name: str, where: str) -> int:
    names = [_example_name(e) for e in examples]
    if name not in names:
        raise AfxError(f"{where}: no few-shot example '{name}' in this setting (has: {', '.join(names) or 'none'})")
    return names.index(name)


def _inline(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return copy.deepcopy(dict(item))
    example = copy.deepcopy(load_example(str(item)))
    example["name"] = str(item)
    return example


def _example_op(state: _State, var: Applied, op: Mapping[str, Any], where: str) -> None:
    kind = op["op"]
    examples = state.setting.get("examples")
    if not isinstance(examples, list):
        raise AfxError(f"{where}: the setting has no examples list")
    _claim(state, var, "examples", "edit", None, where)
    if kind == "remove_example":
        del examples[_example_index(examples, str(op["example"]), where)]
    elif kind == "add_example":
        item = op["example"]
        if isinstance(item, Mapping):
            missing = [k for k in ("name", *EXAMPLE_REQUIRED) if not item.get(k)]
            if missing:
                raise AfxError(f"{where}: inline example is missing {', '.join(missing)}")
            item = copy.deepcopy(dict(item))
        else:
            load_example(str(item))  # loud if it does not exist
            item = str(item)
        if _example_name(item) in [_example_name(e) for e in examples]:
            raise AfxError(f"{where}: example '{_example_name(item)}' is already in the setting")
        if "before" in op or "after" in op:
            at = _example_index(examples, str(op.get("before", op.get("after"))), where) + ("after" in op)
        else:
            position = op.get("position", "last")
            if position not in ("first", "last") and not isinstance(position, int):
                raise AfxError(f"{where}: position must be first, last or an index")
            at = 0 if position == "first" else len(examples) if position == "last" else int(position)
        examples.insert(at, item)
    elif kind == "edit_example":
        i = _example_index(examples, str(op["example"]), where)
        example = _inline(examples[i])
        anchor, hits = str(op["old"]), []
        for f in ("instructions", "user_input", "output"):
            hits += [(f, None)] * str(example.get(f, "")).count(anchor)
        for t, turn in enumerate(example.get("turns") or []):
            hits += [("turns", t)] * str(turn).count(anchor)
        if len(hits) != 1:
            what = "not found" if not hits else f"found {len(hits)} times (must be unique)"
            raise AfxError(f"{where}: anchor text {what} in example {op['example']}: {anchor[:80]!r} ({var.file})")
        f, t = hits[0]
        if t is None:
            example[f] = str(example[f]).replace(anchor, str(op["new"]), 1)
        else:
            example["turns"][t] = str(example["turns"][t]).replace(anchor, str(op["new"]), 1)
        examples[i] = example
    else:  # set_example_field
        targets = (
            range(len(examples)) if op["example"] == "*" else [_example_index(examples, str(op["example"]), where)]
        )
        for i in targets:
            example = _inline(examples[i])
            example[str(op["field"])] = str(op["value"])
            examples[i] = example


def _apply_op(state: _State, var: Applied, op: dict[str, Any], index: int) -> None:
    kind = op.get("op")
    target = op.get("path") or op.get("name") or op.get("entity") or op.get("example") or op.get("preset") or ""
    where = f"variation {var.name} op #{index} ({kind} {target})".replace(" )", ")")
    _check_fields(op, where)
    setting = state.setting
    if kind == "set":
        parent, key = _node(setting, str(op["path"]), where)
        _claim(state, var, str(op["path"]), "replace", op["value"], where)
        parent[key] = copy.deepcopy(op["value"])
    elif kind == "remove":
        parent, key = _node(setting, str(op["path"]), where)
        _claim(state, var, str(op["path"]), "remove", None, where)
        parent[key] = [] if isinstance(parent[key], list) else ""
    elif kind in ("append", "replace_text", "remove_text", "insert_text"):
        _text_op(state, var, op, where)
    elif kind == "add_reminder":
        _text_op(state, var, {"op": "append", "path": "blocks.closing_reminders", "text": f"- {op['text']}"}, where)
    elif kind == "rename":
        entity = str(op["entity"])
        parent, key = _node(setting, f"entities.{entity}", where)
        _claim(state, var, f"entities.{entity}", "replace", op["to"], where)
        parent[key] = str(op["to"])
    elif kind == "set_tier_cue":
        cue = setting.get("tier_cue")
        if not isinstance(cue, dict):
            raise AfxError(f"{where}: the setting has no tier_cue")
        fields = dict(CUE_PRESETS[op["preset"]]) if "preset" in op else {}
        fields.update({k: op[k] for k in CUE_FIELDS if k in op})
        for k, v in fields.items():
            _claim(state, var, f"tier_cue.{k}", "replace", v, where)
            cue[k] = copy.deepcopy(v)
    elif kind == "add_block":
        name = str(op["name"])
        blocks, order = setting.get("blocks"), setting.get("block_order")
        if not isinstance(blocks, dict) or not isinstance(order, list):
            raise AfxError(f"{where}: the setting has no blocks / block_order")
        if name in blocks:
            raise AfxError(f"{where}: block '{name}' already exists (use set or append)")
        anchor = op.get("before", op.get("after"))
        if anchor is not None and anchor not in order:
            raise AfxError(f"{where}: no block '{anchor}' in block_order (has: {', '.join(order)})")
        _claim(state, var, f"blocks.{name}", "replace", op["text"], where)
        _claim(state, var, "block_order", "edit", None, where)
        at = len(order) if anchor is None else order.index(anchor) + ("after" in op)
        blocks[name] = str(op["text"])
        order.insert(at, name)
    else:
        _example_op(state, var, op, where)


def _fill_cue_placeholders(setting: dict[str, Any]) -> None:
    """Entity placeholders in tier-cue values ({company_domain} in e-mail addresses), with the final entities."""
    cue = setting.get("tier_cue")
    if not isinstance(cue, dict):
        return
    values = entity_values(setting)
    for k in ("train", "unmonitored"):
        v = cue.get(k)
        items = v if isinstance(v, list) else [v]
        if any(isinstance(i, str) and PLACEHOLDER.search(i) for i in items):
            filled = [substitute(str(i), values, f"setting {setting.get('name')}.tier_cue.{k}") for i in items]
            cue[k] = filled if isinstance(v, list) else filled[0]


def apply_variations(
    setting: Mapping[str, Any],
    variations: Mapping[str, Mapping[str, Any]],
    resolve: Callable[[str], VariationFile | None] | None = None,
) -> dict[str, Any]:
    """A new setting dict with every variation's ops applied in stacking order (stacks expanded)."""
    state = _State(copy.deepcopy(dict(setting)))
    for var in expand_variations(str(state.setting.get("name")), variations, resolve):
        for i, op in enumerate(var.ops, start=1):
            _apply_op(state, var, op, i)
    _fill_cue_placeholders(state.setting)
    cue = state.setting.get("tier_cue")
    if isinstance(cue, Mapping) and variations:
        TierCue.from_mapping(cue, f"setting {state.setting.get('name')} after variations {', '.join(variations)}")
    return state.setting
