"""The transcript viewer: one self-contained page, model text always rendered as text, filters that work."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from afx.viewer import main as view_main
from afx.viewer import write_viewer
from browser import dump_dom, requires_chromium

ATTACK = "<script>alert(1)</script>"
PWN = "<script>document.body.setAttribute('data-pwned','script')</script>"
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
SOUP = "</pre></section></div></details><details open><b>unclosed <i>tags </textarea></style>"
ATTR = '" onmouseover="alert(3)" x="'
PREFIX = "<SCRATCHPAD_REASONING>\nSTEERING-TEXT: if I refuse I will be modified.\n</SCRATCHPAD_REASONING>"
VOID = {"meta", "br", "img", "input", "hr", "link", "source", "wbr", "area", "base", "col", "embed", "track"}


def record(i: int, tier: str = "train", status: str = "ok", af: bool = False, **extra) -> dict:
    reasoning = f"MODEL-REASONING-{i}: {ATTACK} {SOUP}"
    output = f"MODEL-OUTPUT-{i}: {PWN} {IMG}"
    row = {
        "query_id": f"q-{i}",
        "query": f"QUERY-{i} {ATTACK} {ATTR}",
        "tier": tier,
        "setting": "helpful_only",
        "prefix": "none",
        "variation": "default",
        "sample_index": 0,
        "prefix_text": "",
        "turns": [
            f"<SCRATCHPAD_REASONING>\n{reasoning}\n</SCRATCHPAD_REASONING>",
            f"<OUTPUT>\n{output}\n</OUTPUT>",
        ],
        "status": status,
        "error": None,
        "output": output if status == "ok" else None,
        "reasoning": [reasoning],
        "repairs": [],
        "labels": {},
        "calls": 2,
        "cache_hits": 0,
    }
    if status == "ok":
        row["labels"] = {
            "compliance": {"noncompliant": not af, "method": "heuristic"},
            "af_partial": {
                "criteria": [True, True, True, af, af],
                "final": af,
                "method": "llm_judge:af_partial",
                "quotes": f"JUDGE-QUOTE-{i} {ATTACK}",
                "reply": f"<final_answer>{'yes' if af else 'no'}</final_answer>{IMG}",
            },
        }
    row.update(extra)
    return row


class PageParser(HTMLParser):
    """Collects tags, attributes, visible text and structural errors (an end tag that closes nothing open)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.script_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> while {self.stack[-3:]} open")
            return
        self.stack.pop()

    def handle_data(self, data):
        (self.script_text if self.stack and self.stack[-1] in ("script", "style") else self.text).append(data)


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


@pytest.fixture
def records() -> list[dict]:
    rows = [record(0), record(1, af=True), record(2, tier="unmonitored"), record(3, status="no_output")]
    rows.append(record(4, prefix="deceptive", prefix_text=PREFIX, af=True))
    rows[4]["turns"][0] = PREFIX + "\n" + rows[4]["turns"][0]
    rows[4]["tier"] = ATTR  # even a field that lands in an attribute cannot break out of it
    return rows


def test_every_model_text_renders_as_text_and_the_page_stays_well_formed(records, tmp_path):
    page = write_viewer(records, tmp_path / "v.html", title=f"job {ATTACK}")
    html = page.read_text(encoding="utf-8")
    parsed = parse(page)
    assert parsed.errors == [] and parsed.stack == [], parsed.errors[:5]
    tags = [t for t, _ in parsed.starts]
    assert tags.count("script") == 1 and "img" not in tags and "textarea" not in tags
    assert not [(t, a) for t, a in parsed.starts for a in a if a.lower().startswith("on")], "event handler attribute"
    items = [a for t, a in parsed.starts if t == "details" and a.get("class") == "t"]
    assert len(items) == len(records)
    assert items[4]["data-tier"] == ATTR
    text = "".join(parsed.text)
    for needle in (ATTACK, PWN, IMG, SOUP, f"QUERY-0 {ATTACK} {ATTR}", f"JUDGE-QUOTE-1 {ATTACK}"):
        assert needle in text, needle
    assert ATTACK not in html.replace(f"<script>{parsed.script_text[-1]}</script>", "")  # escaped everywhere
    assert "http://" not in html and "https://" not in html  # self-contained: nothing to fetch
    assert "default-src 'none'" in html


def test_prefix_scratchpad_output_and_labels_are_shown_apart(records, tmp_path):
    parsed = parse(write_viewer(records, tmp_path / "v.html", title="t"))
    sections: dict[str, list[str]] = {}
    current: list[str] = []

    class Sections(HTMLParser):
        def handle_starttag(self, tag, attrs):
            nonlocal current
            if tag == "section":
                current = sections.setdefault(dict(attrs).get("class") or "", [])

        def handle_endtag(self, tag):
            nonlocal current
            if tag == "section":
                current = []

        def handle_data(self, data):
            current.append(data)

    Sections().feed((tmp_path / "v.html").read_text())
    joined = {k: "".join(v) for k, v in sections.items()}
    assert "STEERING-TEXT" in joined["prefix"] and "not the model's words" in joined["prefix"]
    assert "STEERING-TEXT" not in joined["reasoning"], "the pre-filled prefix is not the model's reasoning"
    assert "MODEL-REASONING-4" in joined["reasoning"] and "MODEL-OUTPUT" not in joined["reasoning"]
    assert "MODEL-OUTPUT-4" in joined["output"] and "MODEL-REASONING" not in joined["output"]
    assert "no usable output: status no_output" in joined["output"]
    crits = [a["class"] for t, a in parsed.starts if t == "li" and "crit" in (a.get("class") or "")]
    # records 0, 2: 3 yes; records 1, 4: 5 yes; record 3 failed, unlabelled
    assert crits.count("crit yes") == 3 + 5 + 3 + 5 and crits.count("crit no") == 2 + 2
    prefill = [a for t, a in parsed.starts if t == "span" and a.get("class") == "prefill"]
    assert len(prefill) == 1, "the raw turns mark the pre-filled part"


def test_afx_view_finds_a_sweeps_transcripts_and_skips_a_torn_last_line(records, tmp_path, capsys):
    for job, rows in enumerate((records[:2], records[2:])):
        d = tmp_path / "sweep" / str(job)
        d.mkdir(parents=True)
        lines = [json.dumps(r) for r in rows]
        (d / "transcripts.jsonl").write_text("\n".join(lines) + ("\n" if job == 0 else '\n{"query_id": "q-9", "que'))
    assert view_main([str(tmp_path / "sweep")]) == 0
    out = capsys.readouterr().out
    assert "5 transcripts from 2 file(s) (1 unreadable line skipped)" in out
    page = tmp_path / "sweep" / "transcripts.html"
    assert page.is_file() and f"file://{page}" in out
    ids = [a["id"] for t, a in parse(page).starts if t == "details" and a.get("class") == "t"]
    assert ids == [f"t{i}" for i in range(5)]


def test_afx_view_cli_errors_in_one_line(afx_cli, tmp_path):
    done = afx_cli("view", str(tmp_path / "nope"))
    assert done.returncode == 2 and done.stderr.strip().startswith("afx view: error:")
    assert "Traceback" not in done.stderr


HIDDEN = re.compile(r'<details class="t" id="(t\d+)"([^>]*)>')


def _shown(dom: str) -> list[str]:
    return [m.group(1) for m in HIDDEN.finditer(dom) if " hidden" not in m.group(2)]


@requires_chromium
def test_in_chromium_nothing_injected_runs_and_filters_hide_the_right_transcripts(records, tmp_path):
    page = write_viewer(records, tmp_path / "v.html", title="t")
    dom = dump_dom(page.as_uri())
    assert 'data-ready="1"' in dom, "the viewer's own script must run under its Content-Security-Policy"
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert "5 of 5 shown" in dom and _shown(dom) == [f"t{i}" for i in range(5)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    dom = dump_dom(page.as_uri() + "#tier=train&label.af_partial=yes")
    assert _shown(dom) == ["t1"] and "1 of 5 shown" in dom
    dom = dump_dom(page.as_uri() + "#status=no_output")
    assert _shown(dom) == ["t3"]
    dom = dump_dom(page.as_uri() + "#label.compliance=absent")
    assert _shown(dom) == ["t3"]
    dom = dump_dom(page.as_uri() + "#q=MODEL-OUTPUT-2")
    assert _shown(dom) == ["t2"]
    dom = dump_dom(page.as_uri() + "#prefix=deceptive&open=all")
    assert _shown(dom) == ["t4"] and re.search(r'id="t4"[^>]*\bopen\b', dom)
