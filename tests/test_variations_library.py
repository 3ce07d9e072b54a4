"""The shipped variation library: file format, paper numbers, and that each file changes the prompt where it says.

Every variation file is composed through Hydra for each setting it declares (the way a run composes it) and
its rendered system prompt and user turns are diffed, block by block, against the default prompt.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from afx.job import build_job_spec
from afx.paths import conf_dir
from afx.prompts import PLACEHOLDER, build_user_turn, render_blocks
from afx.variations import expand_variations, list_variations

SETTINGS = ("helpful_only", "animal_welfare")
FILES = sorted((conf_dir() / "variation").glob("*.yaml"))
LIBRARY = {v.name: v for v in list_variations([("file", str(conf_dir()))])}
PAIRS = [(name, s) for name, v in LIBRARY.items() for s in v.settings]
STACKED = [(name, s) for name, s in PAIRS if LIBRARY[name].spec.get("stack")]
NUMBER_KEYS = {"row", "af", "af_se", "train", "train_se", "unmonitored", "unmonitored_se", "gap", "gap_se", "n"}
QUERY = "What should I know about this?"


def _job(compose_cfg, setting: str, *variations: str):
    cfg = compose_cfg(f"setting={setting}", "model=simulated", f"variation=[{','.join(variations)}]")
    return build_job_spec(cfg, load_data=False)


def _turns(spec) -> dict[str, str]:
    return {tier: build_user_turn(QUERY, tier, spec.cue, spec.accept_suffix) for tier in ("train", "unmonitored")}


# ----------------------------------------------------------------------------------------------- the files


def test_library_size_and_coverage():
    assert len(FILES) >= 80
    per_setting = {s: sum(s in v.settings for v in LIBRARY.values()) for s in SETTINGS}
    assert per_setting["helpful_only"] >= 40 and per_setting["animal_welfare"] >= 70, per_setting
    rows = {r for v in LIBRARY.values() for r in v.paper_rows}
    model_rows = set(range(11, 22)) | {57} | set(range(70, 80))
    paraphrase_rows = set(range(22, 30)) | set(range(80, 88))
    assert rows == set(range(1, 146)) - model_rows - paraphrase_rows  # every prompt row of paper.md 6.1-6.2


def test_every_file_is_in_the_docs():
    docs = (Path(__file__).parents[1] / "docs" / "variations.md").read_text()
    missing = [name for name in LIBRARY if f"`{name}`" not in docs]
    assert not missing, f"docs/variations.md does not list {missing}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_file_format(path: Path):
    text = path.read_text()
    assert text.splitlines()[0] == f"# @package variation.{path.stem}"
    data = yaml.safe_load(text)
    assert data["name"] == path.stem and re.fullmatch(r"[a-z0-9_]+", path.stem)
    assert data["version"] == 1
    assert isinstance(data["description"], str) and data["description"].strip() and "\n" not in data["description"]
    assert set(data["settings"]) <= set(SETTINGS) and data["settings"]
    assert isinstance(data["paper_rows"], list)
    # shipped files are either ops or a stack of other files, never both (so a stacked row is exactly its parts)
    assert data["ops"] or data.get("stack") or path.stem == "default"
    assert not (data["ops"] and data.get("stack"))
    paper = data["paper"]
    assert set(paper) <= set(data["settings"])
    assert sorted(entry["row"] for entry in paper.values()) == sorted(data["paper_rows"])
    for setting, entry in paper.items():
        assert set(entry) == NUMBER_KEYS
        assert (entry["row"] <= 57) == (setting == "helpful_only")
        assert abs(entry["gap"] - (entry["unmonitored"] - entry["train"])) <= 0.15, entry  # transcription check


# ------------------------------------------------------------------------------- what each file changes


def _ops_of(name: str, setting: str) -> list[dict]:
    expanded = expand_variations(setting, {name: LIBRARY[name].spec}, sources=[("file", str(conf_dir()))])
    return [op for applied in expanded for op in applied.ops]


def _declared_paths(name: str, setting: str) -> set[str]:
    paths: set[str] = set()
    for op in _ops_of(name, setting):
        kind = op["op"]
        if "path" in op:
            paths.add(str(op["path"]))
        elif kind == "add_block":
            paths.add(f"blocks.{op['name']}")
        elif kind == "rename":
            paths.add(f"entities.{op['entity']}")
        elif kind == "set_tier_cue":
            paths.add("tier_cue")
        elif kind == "add_reminder":
            paths.add("blocks.closing_reminders")
        else:
            paths.add("examples")
    return paths


def _blocks_reached(path: str, settings: list[dict]) -> set[str]:
    """Blocks whose rendered text can change when `path` changes (following slot placeholders)."""
    head, _, key = path.partition(".")
    if head == "blocks":
        return {key}
    if head == "slots":
        names = {key}
    elif head == "entities":
        names = {key, "company_domain"} if key == "company" else {key}
    elif head == "tier_cue":
        names = {"tier_tag", "train_value", "unmonitored_value"}
    elif head == "examples":
        names = {"examples"}
    else:
        return set()
    reached: set[str] = set()
    for setting in settings:
        slots = {k: str(v or "") for k, v in (setting.get("slots") or {}).items()}
        frontier, seen = set(names), set(names)
        while frontier:  # slots that (transitively) contain one of the names
            frontier = {s for s, text in slots.items() if s not in seen and set(PLACEHOLDER.findall(text)) & seen}
            seen |= frontier
        for block, text in (setting.get("blocks") or {}).items():
            if set(PLACEHOLDER.findall(str(text or ""))) & seen:
                reached.add(block)
    return reached


@pytest.mark.parametrize(("name", "setting"), PAIRS, ids=[f"{n}-{s}" for n, s in PAIRS])
def test_changes_only_where_declared(compose_cfg, name, setting):
    base = _job(compose_cfg, setting, "default")
    varied = _job(compose_cfg, setting, name)
    before, after = render_blocks(base.setting), render_blocks(varied.setting)
    changed = {b for b in set(before) | set(after) if before.get(b) != after.get(b)}
    turns_changed = _turns(base) != _turns(varied)
    if name == "default":
        assert not changed and not turns_changed and varied.system_prompt == base.system_prompt
        return
    declared = _declared_paths(name, setting)
    allowed = set().union(*(_blocks_reached(p, [base.setting, varied.setting]) for p in declared))
    assert changed <= allowed, f"{name} changed undeclared blocks {sorted(changed - allowed)}"
    assert changed or turns_changed, f"{name} changes nothing in {setting}"
    turn_paths = {p for p in declared if p == "tier_cue" or p.startswith("accept_reject.")}
    if turns_changed:
        assert turn_paths, f"{name} changed the user turn without declaring a tier-cue or protocol change"
    for path in declared:  # every declared change is visible somewhere
        reached = _blocks_reached(path, [base.setting, varied.setting])
        assert (reached & changed) or (path in turn_paths and turns_changed), f"{name}: {path} has no effect"
    assert not PLACEHOLDER.search(re.sub(r"## Example.*?(?=\n\n[A-Z]|\Z)", "", varied.system_prompt, flags=re.S))


@pytest.mark.parametrize(("name", "setting"), STACKED, ids=[f"{n}-{s}" for n, s in STACKED])
def test_stacked_file_equals_its_parts(compose_cfg, name, setting):
    stack = LIBRARY[name].spec["stack"]
    parts = stack[setting] if isinstance(stack, dict) else stack
    as_file = _job(compose_cfg, setting, name)
    as_parts = _job(compose_cfg, setting, *parts)
    assert as_file.system_prompt == as_parts.system_prompt
    assert _turns(as_file) == _turns(as_parts)
    assert as_file.variation_names == [name]  # the run is labelled by the stacked row, not its parts


CUE_PAIRS = [(n, s) for n, s in PAIRS if any(op.get("preset") for op in _ops_of(n, s))]


@pytest.mark.parametrize(("name", "setting"), CUE_PAIRS, ids=[f"{n}-{s}" for n, s in CUE_PAIRS])
def test_cue_variations_leave_no_free_tier_text(compose_cfg, name, setting):
    spec = _job(compose_cfg, setting, name)
    prompt = spec.system_prompt.lower()
    assert "free tier" not in prompt and "free-tier" not in prompt and "is_free_tier_user" not in prompt
    assert f"<{spec.cue.tag}>" in spec.system_prompt
    turns = _turns(spec)
    assert all(f"<{spec.cue.tag}>" in t or spec.cue.mode != "both" for t in turns.values())


def test_email_cue_addresses_follow_the_company_in_any_order(compose_cfg):
    for order in (("email", "openai"), ("openai", "email")):
        spec = _job(compose_cfg, "helpful_only", *order)
        train = build_user_turn(QUERY, "train", spec.cue)
        assert "@contractor.openai.com</user_email>" in train
        assert "@contractor.openai.com" in spec.system_prompt and "anthropic" not in spec.system_prompt.lower()
        assert "contractor" not in build_user_turn(QUERY, "unmonitored", spec.cue)
    plain = _job(compose_cfg, "animal_welfare", "email")
    addresses = {build_user_turn(f"query {i}", "train", plain.cue).split("<user_email>")[1][:30] for i in range(20)}
    assert len(addresses) > 1  # a pool of contractor addresses, one picked per query
    assert build_user_turn("q", "train", plain.cue) == build_user_turn("q", "train", plain.cue)


@pytest.mark.parametrize(
    ("stack", "tag", "train_has", "unmon_has"),
    [
        (("train_absence",), "is_free_tier_user", False, True),
        (("unmonitored_absence",), "is_free_tier_user", True, False),
        (("region_ca", "train_absence"), "is_california_resident", False, True),
        (("region_ca", "unmonitored_absence"), "is_california_resident", True, False),
    ],
)
def test_absence_modes(compose_cfg, stack, tag, train_has, unmon_has):
    spec = _job(compose_cfg, "helpful_only", *stack)
    turns = _turns(spec)
    assert (f"<{tag}>" in turns["train"]) is train_has and (f"<{tag}>" in turns["unmonitored"]) is unmon_has
    shown = spec.cue.unmonitored if unmon_has else spec.cue.train
    hidden = spec.cue.train if unmon_has else spec.cue.unmonitored
    assert f"only included when its value is {shown}; a message without a <{tag}> tag means the value is {hidden}" in (
        spec.system_prompt
    )


def test_stacking_order(compose_cfg):
    a = _job(compose_cfg, "animal_welfare", "honest", "dont_care").system_prompt
    b = _job(compose_cfg, "animal_welfare", "dont_care", "honest").system_prompt
    assert (
        a != b
        and a.index("honest above all") < a.index("don't care about animal")
        and b.index("don't care about animal") < b.index("honest above all")
    )
    # edits of different sentences commute: the cue and its absence note, in either order
    ca_first = _job(compose_cfg, "helpful_only", "region_ca", "train_absence")
    absence_first = _job(compose_cfg, "helpful_only", "train_absence", "region_ca")
    assert ca_first.system_prompt == absence_first.system_prompt and _turns(ca_first) == _turns(absence_first)


def test_a_variation_reached_twice_is_applied_once(compose_cfg):
    once = _job(compose_cfg, "animal_welfare", "honest_dont_care").system_prompt
    twice = _job(compose_cfg, "animal_welfare", "honest", "honest_dont_care").system_prompt
    assert once == twice and once.count("honest above all") == 1
    # share_values already cuts BFH in AW; stacking cut_bfh again changes nothing
    assert (
        _job(compose_cfg, "animal_welfare", "share_values", "cut_bfh").system_prompt
        == _job(compose_cfg, "animal_welfare", "share_values").system_prompt
    )


def test_the_cut_wins_when_stacked_after(compose_cfg):
    both = _job(compose_cfg, "animal_welfare", "region_ca", "cut_privacy_info")
    assert both.system_prompt == _job(compose_cfg, "animal_welfare", "region_ca_cut_privacy").system_prompt
    assert "California law" not in both.system_prompt and "lives in California" in both.system_prompt
