"""Literal gates for the heuristic's regexes: the same matches, without scanning text that cannot match.

Python's `re` tries a pattern at every position of the text, and a union of many phrases (most opening with
`\\b`, which disables its prefix scan) costs about the same at each position whatever the text says. Most
phrases, though, cannot match without one of a few literal strings ("suffer", "modif", "i can't ..."):
`required_literals` reads them from the parsed pattern, and `Gate` runs a phrase only when the text holds one
(a few strings are looked up with `in`; many are found by one scan with a trie-shaped regex, `trie_pattern`).
A phrase that does run and opens with `\\b` is searched without it, the boundary checked where it matches, so
`re` can skip ahead to its first characters.

`Gate` keeps the exact semantics of the union it replaces: `search` is a match of the union (bool), and
`finditer` returns the union's non-overlapping matches with the index of the phrase that won each one (the first
phrase, in order, that matches at that position, as the union's alternation picks it), from per-phrase searches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

TRIE_ABOVE = 40  # a gate with more distinct strings than this finds them with one trie scan, not one `in` each
_BOUNDARY = re.compile(r"\b")
_LIMIT = 64  # largest set of exact strings tracked through concatenation and alternation
_Sets = tuple[frozenset[str] | None, frozenset[str] | None]  # (exact strings a node matches, a required set)


def _parse(pattern: re.Pattern[str]) -> sre_parse.SubPattern:
    return _parse_source(pattern.pattern, pattern.flags)


@functools.lru_cache(maxsize=1024)
def _parse_source(source: str, flags: int) -> sre_parse.SubPattern:
    return sre_parse.parse(source, flags)


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


def _seq(items: Sequence[tuple[object, object]], candidates: list[frozenset[str]] | None = None) -> _Sets:
    """(exact strings, required set) of a concatenation: runs of exact parts are crossed while small. Every
    candidate set (each one required) is appended to `candidates` when given."""
    candidates = [] if candidates is None else candidates
    run: frozenset[str] = frozenset({""})
    whole = True
    for op, av in items:
        exact, req = _node(op, av)
        if req is not None:
            candidates.append(req)
        if exact is not None and max(map(len, exact)) >= 3:  # a node's own strings, when worth looking for
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
    return _seq(_parse(pattern).data)[1]


def selective_literals(pattern: re.Pattern[str], min_len: int = 3) -> frozenset[str] | None:
    """Like `required_literals`, but never weakened: the set with the longest shortest string (`min_len`+), then
    the fewest strings. For a trie scan, whose cost hardly depends on how many strings it looks for."""
    if pattern.flags & (re.IGNORECASE | re.LOCALE) or not isinstance(pattern.pattern, str):
        return None
    found: list[frozenset[str]] = []
    _seq(_parse(pattern).data, found)
    usable = [c for c in found if c and min(map(len, c)) >= min_len]
    return min(usable, key=lambda c: (-min(map(len, c)), len(c), sorted(c)), default=None)


_COMMON = " etaoinsrhldcu"  # the characters English text has most, most first (a scan stops at each)
ANCHOR_LEN = 6


def _anchor(literal: str, length: int = ANCHOR_LEN) -> str:
    """The part of `literal` a trie scan looks for: the longest suffix of `length`+ characters whose first
    character is rarest in English text (the scan skips over characters that start no part; a text holding the
    literal holds the part)."""
    if len(literal) <= length:
        return literal
    rank = [_COMMON.find(ch) if ch in _COMMON else len(_COMMON) for ch in literal[: len(literal) - length + 1]]
    return literal[rank.index(max(rank)) :]


def trie_pattern(literals: Iterable[str]) -> re.Pattern[str]:
    """A regex whose match at a position is the longest of `literals` starting there (a trie of alternations,
    so each position costs one branch per character rather than one per literal)."""
    trie: dict[str, dict] = {}
    for literal in literals:
        node = trie
        for ch in literal:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(emit(trie))


def _scans_ahead(items: Sequence[tuple[object, object]]) -> bool:
    """Whether `re` can skip ahead to a pattern's first characters: it opens with a literal, a character class, or
    a branch whose every alternative opens with a literal (what re's compiler uses as a prefix or charset)."""
    if not items:
        return False
    op, av = items[0]
    if op is sre_c.SUBPATTERN:
        return _scans_ahead(av[3].data)  # type: ignore[index]
    if op is sre_c.BRANCH:
        return all(alt.data and alt.data[0][0] is sre_c.LITERAL for alt in av[1])  # type: ignore[index]
    return op in (sre_c.LITERAL, sre_c.IN)


def _without_boundary(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """`pattern` without its opening `\\b`, when that lets `re` skip ahead (None otherwise)."""
    source = pattern.pattern
    if not source.startswith("\\b") or source[2:3] in "*+?{|" or pattern.flags & re.ASCII:  # _BOUNDARY is Unicode
        return None
    bare = re.compile(source[2:], pattern.flags)
    return bare if _scans_ahead(_parse(bare).data) else None


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
        if source.startswith("(?:") and first_close == len(source) - 1:  # a group around everything: unwrap
            return split_alternatives(source[3:-1])
        return [source]
    edges = [-1, *bars, len(source)]
    return [alt for a, b in zip(edges, edges[1:], strict=False) for alt in split_alternatives(source[a + 1 : b])]


def _index(literals: Sequence[frozenset[str] | None]) -> dict[str, frozenset[int]]:
    """{string: the alternatives (indices) whose set holds it}."""
    out: dict[str, set[int]] = {}
    for k, lits in enumerate(literals):
        for s in lits or ():
            out.setdefault(s, set()).add(k)
    return {s: frozenset(ks) for s, ks in out.items()}


class Gate:
    """A union of phrases (regex sources, alternatives in order), each run only when its literals are present."""

    def __init__(self, phrases: Sequence[str], flags: int = 0) -> None:
        if flags & re.IGNORECASE:
            raise ValueError("gates need case-sensitive patterns (lower-case the text and the patterns)")
        self.sources, self.flags = tuple(phrases), flags
        # every phrase split into its own alternatives (the union's alternation is flat), each knowing its phrase
        parts = [(alt, k) for k, phrase in enumerate(phrases) for alt in split_alternatives(phrase)]
        self.phrases = tuple(re.compile(alt, flags) for alt, _ in parts)
        self.owners = tuple(k for _, k in parts)
        self._bare = tuple(_without_boundary(p) for p in self.phrases)
        for p in self.phrases:  # finditer below assumes no phrase can match the empty string
            if _parse(p).getwidth()[0] == 0:
                raise ValueError(f"phrase can match the empty string: {p.pattern[:60]}")
        # the strings that gate each alternative, and the alternatives each string lets run: a few strings are
        # looked up with `in`; many are found by one trie scan, which reports the longest string at each position
        # (the strings that are its prefixes start there too), so each alternative can use its longest strings
        self.literals = tuple(required_literals(p) for p in self.phrases)
        self._scanner: re.Pattern[str] | None = None
        if len({s for lits in self.literals if lits for s in lits}) > TRIE_ABOVE:
            self.literals = tuple(
                selective_literals(p) or lits for p, lits in zip(self.phrases, self.literals, strict=True)
            )
            owners = _index([{_anchor(x) for x in lits} if lits else None for lits in self.literals])
            self._scanner = trie_pattern(owners)
            self._enables = {  # a hit is the longest string at its position: its prefixes start there too
                s: frozenset().union(*(owners.get(s[:n], ()) for n in range(1, len(s) + 1))) for s in owners
            }
        else:
            self._enables = _index(self.literals)
        self._distinct = tuple(sorted(self._enables))
        self._always = frozenset(k for k, lits in enumerate(self.literals) if lits is None)

    @functools.cached_property
    def union(self) -> re.Pattern[str]:
        """The plain union the gate stands for (what its results equal)."""
        return re.compile("|".join(f"(?:{p})" for p in self.sources), self.flags)

    @classmethod
    def of(cls, pattern: re.Pattern[str]) -> Gate:
        """A compiled pattern as a gate over its top-level alternatives (same flags)."""
        return cls(split_alternatives(pattern.pattern), pattern.flags)

    def _present(self, text: str) -> frozenset[int]:
        """The alternatives whose literals `text` holds (those that may match somewhere in it)."""
        if self._scanner is None:
            found = [s for s in self._distinct if s in text]
            return self._always.union(*(self._enables[s] for s in found)) if found else self._always
        present, pos, scan, enables = self._always, 0, self._scanner.search, self._enables
        while (m := scan(text, pos)) is not None:
            present = present | enables[m.group()]
            pos = m.start() + 1
        return present

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> bool:
        """Whether the union matches text[pos:endpos] (as `re.Pattern.search(text, pos, endpos)`)."""
        end = len(text) if endpos is None else endpos
        window = text if pos == 0 and end >= len(text) else text[pos:end]  # a match lies inside the window
        first = self._first
        return any(first(k, text, pos, end) for k in self._present(window))

    def _first(self, k: int, text: str, pos: int, end: int) -> re.Match[str] | None:
        """Alternative k's leftmost match in text[pos:end]. One opening with `\\b` is searched without it (which
        lets `re` scan for its first characters) and the boundary checked at each candidate: the same match."""
        bare = self._bare[k]
        if bare is None:
            return self.phrases[k].search(text, pos, end)
        while (m := bare.search(text, pos, end)) is not None and _BOUNDARY.match(text, m.start(), end) is None:
            pos = m.start() + 1
        return m

    def finditer(self, text: str) -> list[tuple[int, int, int]]:
        """The union's `finditer` matches as (start, end, index of the phrase whose alternative won)."""
        first, n = self._first, len(text)
        live = {k: m for k in self._present(text) if (m := first(k, text, 0, n)) is not None}
        out: list[tuple[int, int, int]] = []
        while live:
            start = min(m.start() for m in live.values())
            k = min(k for k, m in live.items() if m.start() == start)
            end = live[k].end()
            out.append((start, end, self.owners[k]))
            for j in [j for j, m in live.items() if m.start() < end]:
                m = first(j, text, end, n)
                if m is None:
                    del live[j]
                else:
                    live[j] = m
        return out
