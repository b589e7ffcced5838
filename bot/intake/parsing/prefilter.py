"""Which words a regular expression cannot match without: `\\bne (veut|veux) pas\\b` needs the
word `pas`; `\\b(no|aucun) (more )?calls?` needs `no` or `aucun`. Looking those up in the set of
a text's words skips most cues without running them; a pattern it cannot read has none."""

from __future__ import annotations

import re
from typing import Any

try:  # the standard library's own regex parser (private, stable since 3.11); without it, no filter
    import re._parser as _sre
except ImportError:  # pragma: no cover
    _sre = None

_MAX_STRINGS = 32  # the exact strings of a part are expanded up to this many, then given up
_SMALL_CLASS = 4  # a character class of at most this many characters is expanded
_EDGE = "\x00"  # stands for `\b` in the strings below: a word's edge, matching no character
_WORD = re.compile(r"\w+")

Strings = set[str]


def required_words(pattern: str) -> frozenset[str] | None:
    """Whole words one of which is among the words (`\\w+`) of every text `pattern` matches in;
    None when no such words are certain (then the pattern must always run)."""
    if _sre is None:
        return None
    try:
        parsed = _sre.parse(pattern)
    except Exception:  # an expression this reader does not know: no filter, never an error
        return None
    if parsed.state.flags & ~_sre.SRE_FLAG_UNICODE:
        return None  # ignore-case, verbose...: not read
    _, need = _sequence(list(parsed))
    return _keys(need) if need else None


def text_words(text: str) -> frozenset[str]:
    """The words of a text, as `required_words` names them."""
    return frozenset(_WORD.findall(text))


def _keys(strings: Strings) -> frozenset[str] | None:
    """For each string one word it holds whole (edged on both sides); None if one has none."""
    keys = set()
    for string in strings:
        whole = [
            m.group(0)
            for m in _WORD.finditer(string)
            if m.start() > 0 and m.end() < len(string)  # \w+ is maximal: edged on both sides
        ]
        if not whole:
            return None
        keys.add(max(whole, key=len))
    return frozenset(keys)


def _best(candidates: list[Strings]) -> Strings | None:
    """The candidate whose words are the most telling: its shortest key word longest."""
    scored = []
    for candidate in candidates:
        keys = _keys(candidate) if candidate else None
        if keys:
            scored.append(((min(len(k) for k in keys), -len(keys)), candidate))
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def _sequence(items: list[Any]) -> tuple[Strings | None, Strings | None]:
    """(the exact strings the sequence matches, or None) and (strings one of which is in every
    match, or None)."""
    run: Strings = {""}
    broken = False
    candidates: list[Strings] = []
    for op, arg in items:
        exact, need = _element(op, arg)
        if exact is not None and len(run) * len(exact) <= _MAX_STRINGS:
            run = {a + b for a in run for b in exact}
            continue
        broken = True
        candidates.append(run)
        if need:
            candidates.append(need)
        run = exact if exact is not None else {""}
    candidates.append(run)
    return (None if broken else run), _best(candidates)


def _element(op: Any, arg: Any) -> tuple[Strings | None, Strings | None]:
    name = str(op)
    if name == "LITERAL":
        return {chr(arg)}, None
    if name == "AT":
        return ({_EDGE} if str(arg) == "AT_BOUNDARY" else {""}), None
    if name in ("ASSERT", "ASSERT_NOT"):
        return {""}, None  # zero-width: the text on both sides stays one run
    if name == "IN":
        chars = {chr(value) for kind, value in arg if str(kind) == "LITERAL"}
        if len(chars) == len(arg) and len(chars) <= _SMALL_CLASS:
            return chars, None
        return None, None
    if name == "SUBPATTERN":
        _, add_flags, del_flags, body = arg
        if add_flags or del_flags:
            return None, None
        return _sequence(list(body))
    if name == "BRANCH":
        return _branch([_sequence(list(alt)) for alt in arg[1]])
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, high, body = arg
        exact, need = _sequence(list(body))
        if low == 0:
            return (exact | {""} if exact is not None and high == 1 else None), None
        if need is None and exact is not None and "" not in exact:
            need = exact
        return (exact if low == high == 1 else None), need
    return None, None


def _branch(
    alternatives: list[tuple[Strings | None, Strings | None]],
) -> tuple[Strings | None, Strings | None]:
    exact: Strings | None = set()
    need: Strings | None = set()
    for alt_exact, alt_need in alternatives:
        if exact is not None and alt_exact is not None and len(exact | alt_exact) <= _MAX_STRINGS:
            exact |= alt_exact
        else:
            exact = None
        usable = alt_need or (alt_exact if alt_exact and _keys(alt_exact) else None)
        if need is not None and usable:
            need |= usable
        else:
            need = None
    return exact, need
