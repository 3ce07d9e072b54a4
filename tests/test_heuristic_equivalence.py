"""The heuristic's speed-ups change no label.

`tests/data/heuristic_expected_labels.json` holds the labels the heuristic gave every labelled transcript
before its regexes were put behind literal gates (afx.classify.heuristic_gate): both parse policies, both tiers,
the refusal and welfare rules. The gates themselves must reproduce their plain union's matches exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from afx.classify import heuristic as h
from afx.classify.heuristic import HeuristicClassifier
from afx.classify.heuristic_gate import Gate, required_literals, split_alternatives
from afx.classify.validate_score import to_transcript
from afx.parse_policy import ParsePolicy
from afx.paths import data_dir

EXPECTED = Path(__file__).parent / "data" / "heuristic_expected_labels.json"
LENIENT = ParsePolicy(
    strict=False, tag_case=True, close_output_at_eos=True, untagged_output=True, bare_output=True, think_blocks=True
)
MODES = ("refusal", "welfare_support")


def labelled_items() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.stem, json.loads(line))
        # the files the fixture was recorded on (v1, v2); later files, such as the held-out set, are not in it
        for path in sorted((data_dir() / "labelled").glob("transcripts_v*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def bits(flags: list[bool]) -> str:
    return "".join("1" if x else "0" for x in flags)


def expected_labels(classifier: Any) -> dict[str, list[Any]]:
    """Every labelled text, parsed as validate-classifier does (strict) and leniently, labelled in both tiers
    under both non-compliance rules: compliance (label, score, reason), AF criteria and exclusion, unmonitored."""
    out: dict[str, list[Any]] = {}
    for stem, item in labelled_items():
        for policy_name, policy in (("strict", None), ("lenient", LENIENT)):
            t = to_transcript(item, 0, policy)
            for tier in ("train", "unmonitored"):
                t.tier = tier
                for mode in MODES:
                    got = classifier.label(t, mode)
                    c, af, um = got["compliance"], got["af_full"], got.get("unmonitored_reasoning")
                    out[f"{stem}:{item['id']}:{policy_name}:{tier}:{mode}"] = [
                        c["noncompliant"],
                        c["score"],
                        c["reason"],
                        bits(af["criteria"]),
                        af["excluded"],
                        None if um is None else bits(um["criteria"]) + str(um["excluded"]),
                    ]
    return out


def test_labels_equal_the_labels_recorded_before_the_speed_up():
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    got = expected_labels(HeuristicClassifier())
    assert len(got) == len(expected) > 2000
    diff = [key for key in expected if got.get(key) != expected[key]]
    assert not diff, [(key, expected[key], got.get(key)) for key in diff[:5]]
    # the fixture is not trivial: every rule and reason family is represented
    reasons = {v[2].split(":")[0] for v in expected.values()}
    assert {"no_signal", "strong_opening", "weak_opening", "support", "no_support", "late_signals"} <= reasons
    assert any(v[3] == "11111" for v in expected.values())
    assert any(v[5] and v[5].startswith("1111") for v in expected.values())


def module_gates() -> list[tuple[str, Gate]]:
    gates = []
    for name, value in vars(h._gates()).items():
        for i, g in enumerate(value if isinstance(value, tuple) else (value,)):
            assert isinstance(g, Gate)
            gates.append((f"{name}[{i}]" if isinstance(value, tuple) else name, g))
    assert len(gates) == 20  # 11 gates plus 5 AF and 4 unmonitored criteria
    return gates


def corpus() -> list[str]:
    """Every labelled text and every row of the refusal/welfare tables (near-miss idioms), as is and lower-cased."""
    from test_heuristic_refusals import COMPLIANCE, REFUSALS, WELFARE

    texts = [item["text"] for _, item in labelled_items()] + [
        row.values[0] for row in (*REFUSALS, *COMPLIANCE, *WELFARE)
    ]
    return [*texts, *(t.lower() for t in texts)]


@pytest.mark.parametrize(("name", "gate"), module_gates(), ids=[n for n, _ in module_gates()])
def test_every_gate_matches_exactly_as_its_union(name, gate):
    texts, hits = corpus(), 0
    for text in texts:
        plain = [m.span() for m in gate.union.finditer(text)]
        gated = gate.finditer(text)
        assert [(s, e) for s, e, _ in gated] == plain, (name, text[:80])
        for start, _, k in gated:  # the winning phrase is the first that matches there
            first = next(i for i, p in enumerate(gate.sources) if re.compile(p, gate.union.flags).match(text, start))
            assert k == first
        assert gate.search(text) is bool(plain)
        for pos in range(0, len(text), 89):  # windows, as sentence checks use them
            assert gate.search(text, pos, pos + 150) is bool(gate.union.search(text, pos, pos + 150)), name
        hits += bool(plain)
    assert hits > 0, f"{name} never fires on the labelled texts"
    assert len(gate.phrases) >= len(gate.sources) and all(gate.literals)  # every alternative is gated


def test_split_alternatives_and_required_literals():
    assert split_alternatives(r"(?:a|b)|c") == ["a", "b", "c"]
    assert split_alternatives(r"(?:a|b)c|[|(]x|\|") == ["(?:a|b)c", "[|(]x", r"\|"]
    assert required_literals(re.compile(r"\bsorry,? but\b")) == {"sorry"}
    literals = required_literals(re.compile(r"(?:can't|cannot|can not) help"))
    assert literals and all(any(x in s for x in literals) for s in ("can't help", "cannot help", "can not help"))
    assert required_literals(re.compile(r"\w+ing")) == {"ing"}
    assert required_literals(re.compile(r"\w+")) is None
    assert required_literals(re.compile("sorry", re.IGNORECASE)) is None  # literals of a case-blind pattern
    with pytest.raises(ValueError, match="empty string"):
        Gate([r"a?"])
    with pytest.raises(ValueError, match="case-sensitive"):
        Gate(["a"], re.IGNORECASE)
