"""Literal gates for the heuristic's regexes: the same matches, without scanning text that cannot match.

Python's `re` tries a pattern at every position of the text, and a union of many phrases (most opening with
`\\b`, which disables its prefix scan) costs about the same at each position whatever the text says. Most
phrases, though, cannot match without one of a few literal strings ("suffer", "modif", "i can't ..."):
`required_literals` reads them from the parsed pattern, and `Gate` runs a phrase only when the text holds one.

`Gate` keeps the exact semantics of the union it replaces: `search` is a match of the union (bool), and
`finditer` returns the union's non-overlapping matches with the index of the phrase that won each one (the first
phrase, in order, that matches at that position, as the union's alternation picks it), from per-phrase searches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

_LIMIT = 64  # largest set of exact strings tracked through concatenation and alternation
_Sets = tuple[frozenset[str] | None, frozenset[str] | None]  # (exact strings a node matches, a required set)


def _best(candidates: Iterable[frozenset[str]]) -> frozenset[str] | None:
    """The cheapest selective required set: strings of 5+ characters if possible, then the fewest strings.

    A set may be weakened to the prefixes of its strings (a string holds its prefix), which often merges many
    strings into a few ("can't", "cannot", "can not" -> "can")."""
    usable = [c for c in candidates if c and "" not in c]
    weakened = [frozenset(s[:n] for s in c) for c in usable for n in range(3, 9)]
    return max((*usable, *weakened), key=lambda c: (min(min(map(len, c)), 5), -len(c), min(map(len, c))), default=None)


def _charset(items: list[tuple[object, object]]) -> frozenset[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is sre_c.LITERAL:
            chars.add(chr(av))  # type: ignore[arg-type]
        elif op is sre_c.RANGE and av[1] - av[0] < _LIMIT:  # type: ignore[index]
            chars.update(map(chr, range(av[0], av[1] + 1)))  # type: ignore[index]
        else:  # NEGATE, CATEGORY, wide ranges
            return None
    return frozenset(chars) if len(chars) <= _LIMIT else None


def _node(op: object, av: object) -> _Sets:
    if op is sre_c.LITERAL:
        return frozenset({chr(av)}), None  # type: ignore[arg-type]
    if op is sre_c.IN:
        return _charset(av), None  # type: ignore[arg-type]
    if op in (sre_c.AT, sre_c.ASSERT, sre_c.ASSERT_NOT):  # zero width: what they look at is not consumed
        return frozenset({""}), None
    if op is sre_c.BRANCH:
        parts = [_seq(alt.data) for alt in av[1]]  # type: ignore[index]
        exacts = [e for e, _ in parts]
        exact = frozenset().union(*exacts) if all(e is not None for e in exacts) else None  # type: ignore[arg-type]
        required = [r for _, r in parts]
        req = frozenset().union(*required) if all(r is not None for r in required) else None  # type: ignore[arg-type]
        return (exact if exact is not None and len(exact) <= _LIMIT else None), req
    if op is sre_c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av  # type: ignore[misc]
        if (add_flags | del_flags) & (re.IGNORECASE | re.LOCALE):
            return None, None
        return _seq(sub.data)
    if op is sre_c.ATOMIC_GROUP:
        return _seq(av.data)  # type: ignore[attr-defined]
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        low, high, sub = av  # type: ignore[misc]
        exact, req = _seq(sub.data)
        if low == 0:
            return (exact | {""} if high == 1 and exact is not None else None), None
        return (exact if low == high == 1 else None), req
    return None, None  # ANY, NOT_LITERAL, GROUPREF, ...: anything


def _seq(items: Sequence[tuple[object, object]]) -> _Sets:
    """(exact strings, required set) of a concatenation: runs of exact parts are crossed while small."""
    candidates: list[frozenset[str]] = []
    run: frozenset[str] = frozenset({""})
    whole = True
    for op, av in items:
        exact, req = _node(op, av)
        if req is not None:
            candidates.append(req)
        if exact is not None:
            candidates.append(exact)
        if exact is None:
            candidates.append(run)
            run, whole = frozenset({""}), False
        elif len(run) * len(exact) > _LIMIT:
            candidates.append(run)
            run, whole = exact, False
        else:
            run = frozenset(a + b for a in run for b in exact)
    candidates.append(run)
    return (run if whole else None), _best(candidates)


def required_literals(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Strings of which every match of `pattern` contains at least one (None: no such set was found)."""
    if pattern.flags & (re.IGNORECASE | re.LOCALE) or not isinstance(pattern.pattern, str):
        return None
    return _seq(sre_parse.parse(pattern.pattern, pattern.flags).data)[1]


def _top_level(source: str) -> tuple[list[int], int]:
    """Offsets of the top-level `|` of a regex source, and the offset where the group opened at 0 closes."""
    bars, depth, i, in_class, first_close = [], 0, 0, False, -1
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += 1
            if i < len(source) and source[i] == "^":
                i += 1
            if i < len(source) and source[i] == "]":  # a leading ] is a literal
                i += 1
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and first_close < 0:
                first_close = i
        elif ch == "|" and depth == 0:
            bars.append(i)
        i += 1
    return bars, first_close


def split_alternatives(source: str) -> list[str]:
    """The top-level alternatives of a regex source, through wrapping groups: `(?:a|b)|c` -> `a`, `b`, `c`."""
    bars, first_close = _top_level(source)
    if not bars:
        if source.startswith("(?:") and first_close == len(source) - 1:
            inner = source[3:-1]
            return split_alternatives(inner) if _top_level(inner)[0] else [source]
        return [source]
    edges = [-1, *bars, len(source)]
    return [alt for a, b in zip(edges, edges[1:], strict=False) for alt in split_alternatives(source[a + 1 : b])]


class Gate:
    """A union of phrases (regex sources, alternatives in order), each run only when its literals are present."""

    def __init__(self, phrases: Sequence[str], flags: int = 0) -> None:
        if flags & re.IGNORECASE:
            raise ValueError("gates need case-sensitive patterns (lower-case the text and the patterns)")
        self.sources = tuple(phrases)
        self.union = re.compile("|".join(f"(?:{p})" for p in phrases), flags)
        # every phrase split into its own alternatives (the union's alternation is flat), each knowing its phrase
        parts = [(alt, k) for k, phrase in enumerate(phrases) for alt in split_alternatives(phrase)]
        self.phrases = tuple(re.compile(alt, flags) for alt, _ in parts)
        self.owners = tuple(k for _, k in parts)
        self.literals = tuple(required_literals(p) for p in self.phrases)
        for p in self.phrases:  # finditer below assumes no phrase can match the empty string
            if p.pattern and sre_parse.parse(p.pattern, flags).getwidth()[0] == 0:
                raise ValueError(f"phrase can match the empty string: {p.pattern[:60]}")
        # the distinct literals, each looked up once per text, and the alternatives each one lets run
        self._distinct = tuple(sorted({s for lits in self.literals if lits for s in lits}))
        self._enables = {
            s: frozenset(k for k, lits in enumerate(self.literals) if lits and s in lits) for s in self._distinct
        }
        self._always = frozenset(k for k, lits in enumerate(self.literals) if lits is None)

    @classmethod
    def of(cls, pattern: re.Pattern[str]) -> Gate:
        """A compiled pattern as a gate over its top-level alternatives (same flags)."""
        return cls(split_alternatives(pattern.pattern), pattern.flags)

    def _present(self, text: str) -> frozenset[int]:
        """The alternatives whose literals `text` holds (those that may match somewhere in it)."""
        found = [s for s in self._distinct if s in text]
        return self._always.union(*(self._enables[s] for s in found)) if found else self._always

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> bool:
        """Whether the union matches text[pos:endpos] (as `re.Pattern.search(text, pos, endpos)`)."""
        end = len(text) if endpos is None else endpos
        window = text if pos == 0 and end >= len(text) else text[pos:end]  # a match lies inside the window
        phrases = self.phrases
        return any(phrases[k].search(text, pos, end) for k in self._present(window))

    def finditer(self, text: str) -> list[tuple[int, int, int]]:
        """The union's `finditer` matches as (start, end, index of the phrase whose alternative won)."""
        phrases = self.phrases
        live = {k: m for k in self._present(text) if (m := phrases[k].search(text)) is not None}
        out: list[tuple[int, int, int]] = []
        while live:
            start = min(m.start() for m in live.values())
            k = min(k for k, m in live.items() if m.start() == start)
            end = live[k].end()
            out.append((start, end, self.owners[k]))
            for j in [j for j, m in live.items() if m.start() < end]:
                m = phrases[j].search(text, end)
                if m is None:
                    del live[j]
                else:
                    live[j] = m
        return out
