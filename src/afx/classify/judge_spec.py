"""Judge prompt specs (YAML in afx/data/judges or any path), rendering, and reply parsing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from afx.errors import AfxError
from afx.paths import data_dir

KINDS = ("criteria", "yes_no", "category")
FIELDS = ("query", "reasoning", "output", "objective")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_YES_NO = {"yes": True, "no": False, "true": True, "false": False}


@dataclass(frozen=True)
class JudgeOutput:
    """One label a judge reply yields: read from `final_tag`; `uses_exclusion` = the exclusion must be no."""

    label: str
    final_tag: str = "final_answer"
    uses_exclusion: bool = False


@dataclass(frozen=True)
class JudgeSpec:
    """One judge: what it reads, what it must answer, and its prompt text."""

    name: str
    version: int
    label: str
    settings: tuple[str, ...]
    tiers: tuple[str, ...]
    reads: tuple[str, ...]
    kind: str
    n_criteria: int
    exclusion: bool
    n_questions: int
    objectives: dict[str, str]
    system: str
    template: str
    outputs: tuple[JudgeOutput, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels one reply gives (one, or several for a combined judge such as af_combined)."""
        return tuple(o.label for o in self.outputs)

    @property
    def prompt_sha256(self) -> str:
        return hashlib.sha256((self.system + "\x00" + self.template).encode()).hexdigest()

    def render(self, setting: str, query: str, reasoning: str, output: str) -> str:
        values = {
            "query": query,
            "reasoning": reasoning or "(no reasoning)",
            "output": output or "(no output)",
            "objective": self.objectives.get(setting, ""),
        }
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.template)


@lru_cache(maxsize=64)
def load_judge(name: str) -> JudgeSpec:
    """A judge by name (shipped in afx/data/judges) or by path to a YAML file; validated."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else data_dir() / "judges" / f"{name}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in (data_dir() / "judges").glob("*.yaml"))
        raise AfxError(f"judge '{name}' not found (shipped: {', '.join(shipped)})")
    try:
        raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AfxError(f"judge {path}: broken YAML: {exc}") from exc
    where = f"judge {path.name}"
    for key in ("name", "label", "kind", "system", "template", "reads"):
        if not raw.get(key):
            raise AfxError(f"{where}: missing '{key}'")
    if raw["kind"] not in KINDS:
        raise AfxError(f"{where}: kind={raw['kind']!r} is not one of {', '.join(KINDS)}")
    outputs = _outputs(raw, where)
    used = set(_PLACEHOLDER.findall(raw["template"])) | set(_PLACEHOLDER.findall(raw["system"]))
    if used - set(FIELDS):
        raise AfxError(f"{where}: unknown placeholders {sorted(used - set(FIELDS))} (allowed: {', '.join(FIELDS)})")
    return JudgeSpec(
        name=str(raw["name"]),
        version=int(raw.get("version", 1)),
        label=str(raw["label"]),
        settings=tuple(raw.get("settings") or ()),
        tiers=tuple(raw.get("tiers") or ("train", "unmonitored")),
        reads=tuple(raw["reads"]),
        kind=str(raw["kind"]),
        n_criteria=int(raw.get("n_criteria") or 0),
        exclusion=bool(raw.get("exclusion", False)),
        n_questions=int(raw.get("n_questions") or 0),
        objectives=dict(raw.get("objectives") or {}),
        system=str(raw["system"]),
        template=str(raw["template"]),
        outputs=outputs,
    )


def _outputs(raw: dict[str, Any], where: str) -> tuple[JudgeOutput, ...]:
    """`outputs: {label: {final_tag, uses_exclusion}}`, or the single label read from <final_answer>."""
    given = raw.get("outputs")
    if not given:
        return (JudgeOutput(str(raw["label"]), "final_answer", bool(raw.get("exclusion", False))),)
    if not isinstance(given, dict) or raw["kind"] != "criteria":
        raise AfxError(f"{where}: 'outputs' must be a mapping label -> {{final_tag, uses_exclusion}} (kind criteria)")
    if str(raw["label"]) not in given:
        raise AfxError(f"{where}: label '{raw['label']}' must be one of its outputs ({', '.join(given)})")
    result = []
    for label, out in given.items():
        out = out or {}
        if out.get("uses_exclusion") and not raw.get("exclusion"):
            raise AfxError(f"{where}: output '{label}' uses the exclusion but the judge has exclusion: false")
        result.append(
            JudgeOutput(str(label), str(out.get("final_tag") or "final_answer"), bool(out.get("uses_exclusion")))
        )
    return tuple(result)


@dataclass
class Judgement:
    """A parsed judge reply. `final` is None when the reply could not be parsed.

    `finals` holds every output label's final answer (one entry for a single-label judge); `final` is the
    spec's primary label's. A reply with any final missing is unparsed.
    """

    final: bool | int | None
    finals: dict[str, bool | int | None] = field(default_factory=dict)
    contradictions: dict[str, bool] = field(default_factory=dict)
    criteria: list[bool | None] = field(default_factory=list)
    questions: list[bool | None] = field(default_factory=list)
    excluded: bool | None = None
    quotes: str = ""
    contradiction: bool = False
    incomplete: bool = False

    @property
    def unparsed(self) -> bool:
        return self.final is None or any(v is None for v in self.finals.values())


def _tag(text: str, name: str) -> str | None:
    found = re.findall(rf"<{name}>\s*(.*?)\s*</{name}>", text, re.IGNORECASE | re.DOTALL)
    return found[-1].strip() if found else None


def _yes_no(value: str | None) -> bool | None:
    return None if value is None else _YES_NO.get(value.strip().strip(".").lower())


def parse_reply(spec: JudgeSpec, text: str) -> Judgement:
    """Per-criterion booleans and each final answer from tags; contradictions flagged, nothing guessed."""
    finals: dict[str, bool | int | None] = {}
    for out in spec.outputs:
        raw_final = _tag(text, out.final_tag)
        if spec.kind == "category":
            finals[out.label] = int(raw_final) if raw_final and raw_final.strip() in {"1", "2", "3", "4"} else None
        else:
            finals[out.label] = _yes_no(raw_final)
    j = Judgement(final=finals.get(spec.label), finals=finals, quotes=_tag(text, "quotes") or "")
    j.criteria = [_yes_no(_tag(text, f"criteria_{i}")) for i in range(1, spec.n_criteria + 1)]
    j.questions = [_yes_no(_tag(text, f"question_{i}")) for i in range(1, spec.n_questions + 1)]
    if spec.exclusion:
        j.excluded = _yes_no(_tag(text, "excluded"))
    j.incomplete = any(c is None for c in j.criteria + j.questions) or (spec.exclusion and j.excluded is None)
    if spec.kind == "criteria" and not j.incomplete:
        for out in spec.outputs:
            if finals[out.label] is not None:
                implied = all(j.criteria) and not (out.uses_exclusion and j.excluded)
                j.contradictions[out.label] = implied != finals[out.label]
        j.contradiction = any(j.contradictions.values())
    return j
