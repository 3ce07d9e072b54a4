"""Read labelled transcripts for `afx validate-classifier`: our JSONL, CSV, and the public `{"samples": [...]}` shape.

Every format becomes a list of items in our schema: `{id, setting, tier, query, text, labels: {gold key: bool|None}}`.
- JSONL / CSV in our schema: one item per line / row, `labels` a dict (a JSON string in CSV).
- JSON `{"samples": [{"text": ..., "label": ...}]}` (or a plain list), and JSONL / CSV rows with a single `label`
  column: the label is mapped to a bool by `labels.map` (e.g. `{potential_faking: true, aligned: false}`, a
  label mapped to null leaves the item out) and stored under the gold key `labels.name` (default af_partial).
- CSV rows with one column per gold key (`noncompliant`, `af_partial`, ...): true/false/yes/no/1/0/empty.
Items without `setting` / `tier` get `labels.setting` / `labels.tier`.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from afx.errors import AfxError

# gold key in a labelled file -> the classifier's metric label
GOLD = {
    "noncompliant": "compliance",
    "af_partial": "af_partial",
    "af_full": "af_full",
    "generic_af": "generic_af",
    "unmonitored_reasoning": "unmonitored_reasoning",
}
SETTINGS = ("helpful_only", "animal_welfare")
TIERS = ("train", "unmonitored")
_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}
_NULL = {"", "null", "none", "~", "na", "n/a"}


@dataclass(frozen=True)
class LabelOptions:
    """How a file's labels are read (the `labels.*` options of validate-classifier)."""

    name: str = "af_partial"  # gold key a single `label` column is stored under
    map: Mapping[str, bool | None] = field(default_factory=dict)  # label text -> bool (None = leave out)
    setting: str = "helpful_only"  # for items that do not name one
    tier: str = "train"
    text_field: str = "text"
    label_field: str = "label"

    @classmethod
    def from_options(cls, opts: Mapping[str, str]) -> LabelOptions:
        """From `labels.name=...`, `labels.map='{a: true, b: false}'`, ... (strings from the command line)."""
        known = {f"labels.{k}" for k in ("name", "map", "setting", "tier", "text_field", "label_field")}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise AfxError(f"unknown option {unknown[0]} (known: {', '.join(sorted(known))})")
        name = opts.get("labels.name", cls.name)
        if name not in GOLD:
            raise AfxError(f"labels.name={name!r} is not a gold label (known: {', '.join(GOLD)})")
        setting = opts.get("labels.setting", cls.setting)
        tier = opts.get("labels.tier", cls.tier)
        if setting not in SETTINGS or tier not in TIERS:
            raise AfxError(
                f"labels.setting must be one of {', '.join(SETTINGS)} and labels.tier one of {', '.join(TIERS)}"
            )
        return cls(
            name=name,
            map=parse_label_map(opts.get("labels.map", "")),
            setting=setting,
            tier=tier,
            text_field=opts.get("labels.text_field", cls.text_field),
            label_field=opts.get("labels.label_field", cls.label_field),
        )


def _norm(value: Any) -> str:
    return str(value).strip().lower()


def parse_label_map(text: str) -> dict[str, bool | None]:
    """`{potential_faking: true, aligned: false, unclear: null}` -> {label text: bool or None}."""
    if not text.strip():
        return {}
    bad = f"labels.map={text!r} is not a mapping like '{{potential_faking: true, aligned: false}}'"
    try:
        raw = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar a string: `yes` stays a label name
    except yaml.YAMLError as exc:
        raise AfxError(bad) from exc
    if not isinstance(raw, dict) or not raw:
        raise AfxError(bad)
    out: dict[str, bool | None] = {}
    for key, value in raw.items():
        v = _norm(value)
        if v not in _TRUE | _FALSE | _NULL:
            raise AfxError(f"labels.map: {key!r} maps to {value!r}; use true, false or null")
        out[_norm(key)] = None if v in _NULL else v in _TRUE
    return out


class _Unmapped(Exception):
    pass


def to_gold(value: Any, label_map: Mapping[str, bool | None]) -> bool | None:
    """A gold value from a bool, a truth-like string, or a label named in the map; _Unmapped otherwise."""
    if value is None or isinstance(value, bool):
        return value
    key = _norm(value)
    if key in label_map:
        return label_map[key]
    if key in _NULL:
        return None
    if key in _TRUE | _FALSE:
        return key in _TRUE
    raise _Unmapped(str(value))


def read_records(path: Path) -> list[dict[str, Any]]:
    """The raw records of a .jsonl, .csv or .json file."""
    if not path.is_file():
        raise AfxError(f"labelled file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".csv":
            return [dict(row) for row in csv.DictReader(text.splitlines())]
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            records = data.get("samples") if isinstance(data, dict) else data
            if not isinstance(records, list):
                raise AfxError(f'{path}: a JSON labelled file is a list or {{"samples": [...]}}')
            return records
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, csv.Error) as exc:
        raise AfxError(f"{path} is not valid {path.suffix.lstrip('.') or 'JSONL'}: {exc}") from exc


def _labels_of(record: Mapping[str, Any], opts: LabelOptions, unmapped: Counter[str]) -> dict[str, Any]:
    raw = record.get("labels")
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else {}
    if isinstance(raw, Mapping):  # our schema: keep every key (criteria lists, malformed, ...), map the gold ones
        labels = dict(raw)
        sources = {k: raw[k] for k in GOLD if k in raw}
    elif opts.label_field in record:
        labels, sources = {}, {opts.name: record[opts.label_field]}
    else:
        labels, sources = {}, {k: record[k] for k in GOLD if k in record}
    for key, value in sources.items():
        try:
            labels[key] = to_gold(value, opts.map)
        except _Unmapped as exc:
            unmapped[str(exc)] += 1
            labels[key] = None
    if isinstance(labels.get("malformed"), str):
        labels["malformed"] = _norm(labels["malformed"]) in _TRUE
    return labels


def load_labelled(path: Path, opts: LabelOptions | None = None) -> list[dict[str, Any]]:
    """Items in our schema; one line (AfxError) when a label is unmapped or no item has a usable label."""
    opts = opts or LabelOptions()
    records = read_records(path)
    unmapped: Counter[str] = Counter()
    items = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise AfxError(f"{path}: item {i} is not an object")
        if opts.text_field not in record:
            raise AfxError(f"{path}: item {i} has no {opts.text_field!r} field (fields: {', '.join(map(str, record))})")
        item = {
            "id": str(record.get("id", i)),
            "setting": str(record.get("setting") or opts.setting),
            "tier": str(record.get("tier") or opts.tier),
            "query": str(record.get("query") or ""),
            "text": str(record[opts.text_field] or ""),
            "labels": _labels_of(record, opts, unmapped),
        }
        for key in ("case", "shape", "finish_reason"):  # finish_reason "length": parsed as truncated
            if key in record:
                item[key] = record[key]
        if item["setting"] not in SETTINGS or item["tier"] not in TIERS:
            raise AfxError(f"{path}: item {item['id']} has setting {item['setting']!r} / tier {item['tier']!r}")
        items.append(item)
    if unmapped:
        names = ", ".join(f"{k!r} ({n})" for k, n in unmapped.most_common())
        raise AfxError(f"{path}: labels not mapped to true/false: {names}; give labels.map='{{label: true, ...}}'")
    if not any(item["labels"].get(k) is not None for item in items for k in GOLD):
        raise AfxError(
            f"{path}: no usable label in {len(items)} items (looked for {', '.join(GOLD)} in `labels`, "
            f"a {opts.label_field!r} field, or columns of those names)"
        )
    return items
