"""The query language, parsed: one line of `key:value` terms into a `Query`.

    w:0.6..0.8 chars:3 layout:side_by_side named:yes tag:bleed char:Lily
    feature:side_ponytail=migrated seed:1293127692,42 -status:failed "blue ribbon"

Terms are ANDed; a list `a,b` inside a term is ORed; `-key:` negates a term.
Values are checked here, against the key's type, so that a typo is reported
with its column before any SQL runs. `QueryError` is the only exception this
module raises for any input. The compiler lives in `catalog/query.py`.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Union

from gentui.catalog.sidecar import normalize_weight

MAX_TERMS = 64
MAX_ITEMS = 100
MAX_LENGTH = 20_000
WEIGHT_TOLERANCE = 5e-7
"""Weights and cfg are stored rounded to 6 decimals; equal means within half of that."""

OUTCOMES = ("present", "missing", "migrated", "duplicated", "color_drift", "collapse", "artifact")
LAYOUT_ALIASES = {"side": "side_by_side", "sbs": "side_by_side", "front": "front_back"}

# canonical key -> value kind. The compiler maps each to SQL.
KEY_KINDS: dict[str, str] = {
    "weight": "weight", "seed": "int", "model": "text", "workflow": "text", "backend": "text",
    "steps": "int", "cfg": "float", "size": "size", "chars": "int", "layout": "text",
    "named": "bool", "char": "text", "tag": "text", "feature": "feature", "outcome": "outcome",
    "status": "text", "sweep": "text", "date": "date", "lora": "text", "rating": "int",
    "id": "int", "field": "field", "sampler": "text", "scheduler": "text", "variant": "text",
    "job": "int", "text": "text",
}
ALIASES = {"w": "weight", "characters": "chars", "n": "chars", "name": "char", "character": "char",
           "tags": "tag", "created": "date", "checkpoint": "model", "prompt": "text"}
VALID_KEYS: tuple[str, ...] = tuple(sorted(KEY_KINDS)) + tuple(sorted(ALIASES))
"""Every key the parser accepts (canonical names, then aliases)."""


def keys_help() -> str:
    """The valid keys as one line for error messages: `w/weight, seed, ...`."""
    names = []
    for key in sorted(KEY_KINDS):
        alias = sorted(a for a, k in ALIASES.items() if k == key and len(a) < len(key))
        names.append("/".join(alias + [key]) + (":PATH=VALUE" if key == "field" else ""))
    return ", ".join(names)
_NULLABLE_NONE = {"weight", "model", "workflow", "backend", "layout", "sweep", "lora", "rating",
                  "sampler", "scheduler", "variant", "tag", "job", "cfg", "steps", "seed", "named"}
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PATH_RE = re.compile(r"[A-Za-z0-9_.\-*]+\Z")
_DATE_RE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ](\d{1,2}):(\d{2}))?)?)?\Z")
_AGO_RE = re.compile(r"(\d{1,5})([hdwm])\Z")
_SIZE_RE = re.compile(r"(\d{1,6})[xX×](\d{1,6})\Z")
_OPS = (">=", "<=", ">", "<", "=")


class QueryError(ValueError):
    """A query that cannot be run: which token, where (1-based column), why."""

    def __init__(self, token: str, column: int, reason: str, query: str = ""):
        self.token = token
        self.column = column
        self.reason = reason
        self.query = query
        self.valid_keys = VALID_KEYS
        super().__init__(str(self))

    def __str__(self) -> str:
        return (f"query error at column {self.column}, {self.token!r}: {self.reason} "
                f"(valid keys: {keys_help()})")

    def caret(self) -> str:
        """The query with a caret under the offending column, for terminals."""
        return f"{self.query}\n{' ' * (self.column - 1)}^"


@dataclass(frozen=True)
class Eq:
    value: Any


@dataclass(frozen=True)
class Range:
    """lo/hi None means open; inclusive flags come from `>` vs `>=`."""

    lo: Any = None
    hi: Any = None
    lo_incl: bool = True
    hi_incl: bool = True


@dataclass(frozen=True)
class Glob:
    """A text pattern with `*` wildcards (case-insensitive)."""

    pattern: str


@dataclass(frozen=True)
class IsNone:
    pass


@dataclass(frozen=True)
class Size:
    width: int
    height: int


Cond = Union[Eq, Range, Glob, IsNone, Size]


@dataclass(frozen=True)
class Term:
    """One `key:value` (or free-text) token; `conds` are ORed, an empty tuple means "any"."""

    key: str
    conds: tuple[Cond, ...]
    negated: bool = False
    token: str = ""
    column: int = 1
    path: str | None = None
    """`field:` path, or the feature name for `feature:`."""


@dataclass(frozen=True)
class Query:
    text: str
    terms: tuple[Term, ...] = field(default_factory=tuple)

    @property
    def is_empty(self) -> bool:
        return not self.terms


# ---------------------------------------------------------------- scanning
# A value is kept as a list of (char, quoted, column) so that `,` `..` `*` and
# operators only count outside quotes, and every error can point at its column.
Chars = list[tuple[str, bool, int]]


def _text(cs: Chars) -> str:
    return "".join(c for c, _q, _col in cs)


def _quoted(cs: Chars) -> bool:
    return any(q for _c, q, _col in cs)


def _split(cs: Chars, sep: str) -> list[Chars]:
    parts: list[Chars] = [[]]
    i = 0
    n = len(sep)
    while i < len(cs):
        if not cs[i][1] and "".join(c for c, _q, _col in cs[i:i + n]) == sep and not any(q for _c, q, _col in cs[i:i + n]):
            parts.append([])
            i += n
        else:
            parts[-1].append(cs[i])
            i += 1
    return parts


def _tokens(text: str) -> list[tuple[int, int, Chars]]:
    """Split on unquoted whitespace; `"..."` may contain spaces and `\\"`."""
    out: list[tuple[int, int, Chars]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        cs: Chars = []
        while i < n and not text[i].isspace():
            if text[i] == '"':
                qcol = i + 1
                i += 1
                while True:
                    if i >= n:
                        raise QueryError(text[start:], qcol, "unterminated quote: add the closing \"", text)
                    ch = text[i]
                    if ch == "\\" and i + 1 < n and text[i + 1] in '"\\':
                        cs.append((text[i + 1], True, i + 1))
                        i += 2
                        continue
                    if ch == '"':
                        i += 1
                        break
                    cs.append((ch, True, i + 1))
                    i += 1
            else:
                cs.append((text[i], False, i + 1))
                i += 1
        if not cs:
            raise QueryError(text[start:i], start + 1, "empty quoted text", text)
        out.append((start + 1, i, cs))
    return out


# ---------------------------------------------------------------- values
def _err(item: Chars, reason: str, token: str, query: str, column: int) -> QueryError:
    col = item[0][2] if item else column
    return QueryError(token, col, reason, query)


def _number(s: str, kind: str) -> float | int:
    if kind in ("int",):
        if not re.fullmatch(r"[+-]?\d{1,19}", s):
            raise ValueError("expected a whole number")
        v = int(s)
        if abs(v) >= 2**63:
            raise ValueError("number too large")
        return v
    try:
        f = float(s)
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(f) or not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        raise ValueError("expected a number")
    w = normalize_weight(f)
    if w is None:
        raise ValueError("expected a number")
    return w


def _parse_date(s: str, now: datetime) -> tuple[datetime, datetime | None]:
    """A date as the half-open interval it names, in UTC (days are local days); `7d` is open-ended."""
    local = now.astimezone()
    tz = local.tzinfo
    low = s.lower()
    if low in ("today", "yesterday"):
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if low == "yesterday":
            day -= timedelta(days=1)
        return day.astimezone(timezone.utc), (day + timedelta(days=1)).astimezone(timezone.utc)
    m = _AGO_RE.match(low)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n), "m": timedelta(days=30 * n)}[unit]
        return (now - delta).astimezone(timezone.utc), None
    m = _DATE_RE.match(s)
    if not m:
        raise ValueError("expected a date: 2026-11-25, 2026-11, 2026, today, yesterday or 7d (days ago)")
    y, mo, d, hh, mm = (int(g) if g else None for g in m.groups())
    try:
        return _interval(y, mo, d, hh, mm, tz)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"not a real date ({e})") from None


def _interval(y: int, mo: int | None, d: int | None, hh: int | None, mm: int | None, tz: Any) -> tuple[datetime, datetime]:
    if mo is None:
        a, b = datetime(y, 1, 1, tzinfo=tz), datetime(y + 1, 1, 1, tzinfo=tz)
    elif d is None:
        a = datetime(y, mo, 1, tzinfo=tz)
        b = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=tz)
    elif hh is None:
        a = datetime(y, mo, d, tzinfo=tz)
        b = a + timedelta(days=1)
    else:
        a = datetime(y, mo, d, hh, mm or 0, tzinfo=tz)
        b = a + timedelta(minutes=1)
    return a.astimezone(timezone.utc), b.astimezone(timezone.utc)


# ---------------------------------------------------------------- terms
_BOOLS = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False}


class _Ctx:
    """What every value parser needs to raise a precise error."""

    def __init__(self, query: str, token: str, column: int, now: datetime):
        self.query, self.token, self.column, self.now = query, token, column, now

    def error(self, item: Chars, reason: str) -> QueryError:
        return _err(item, reason, self.token, self.query, self.column)


def _op(item: Chars) -> tuple[str | None, Chars]:
    t = _text(item)
    for op in _OPS:
        if t.startswith(op) and not _quoted(item[: len(op)]):
            return op, item[len(op):]
    return None, item


def _range_from_op(op: str, v: Any) -> Cond:
    return {">=": Range(lo=v), ">": Range(lo=v, lo_incl=False), "<=": Range(hi=v),
            "<": Range(hi=v, hi_incl=False), "=": Eq(v)}[op]


def _ordered(ctx: _Ctx, item: Chars, parse: Any, allow_none: bool) -> Cond:
    """An item of an ordered type: `v`, `a..b`, `..b`, `a..`, `>=v` (and `none`)."""
    t = _text(item)
    if allow_none and t.lower() == "none" and not _quoted(item):
        return IsNone()
    op, rest = _op(item)
    if op:
        if not rest:
            raise ctx.error(item, f"nothing after {op!r}")
        return _range_from_op(op, _value(ctx, rest, parse))
    parts = _split(item, "..")
    if len(parts) == 1:
        return Eq(_value(ctx, item, parse))
    if len(parts) != 2 or (not parts[0] and not parts[1]):
        raise ctx.error(item, "bad range: write a..b, ..b or a..")
    lo = _value(ctx, parts[0], parse) if parts[0] else None
    hi = _value(ctx, parts[1], parse) if parts[1] else None
    if lo is not None and hi is not None and lo > hi:
        raise ctx.error(item, f"bad range: {_text(parts[0])} is greater than {_text(parts[1])}")
    return Range(lo=lo, hi=hi)


def _value(ctx: _Ctx, item: Chars, parse: Any) -> Any:
    try:
        return parse(_text(item))
    except (ValueError, OverflowError) as e:
        raise ctx.error(item, f"{_text(item)!r}: {e}") from None


def _date_item(ctx: _Ctx, item: Chars) -> Cond:
    """Dates compare as intervals: `2026-11` is the whole month, `a..b` runs to the end of b."""
    def interval(chars: Chars) -> tuple[datetime, datetime | None]:
        return _value(ctx, chars, lambda s: _parse_date(s, ctx.now))

    op, rest = _op(item)
    if op:
        if not rest:
            raise ctx.error(item, f"nothing after {op!r}")
        a, b = interval(rest)
        if op == "=" or b is None:
            return Range(lo=a, hi=b, hi_incl=False)
        return {">=": Range(lo=a), ">": Range(lo=b), "<=": Range(hi=b, hi_incl=False),
                "<": Range(hi=a, hi_incl=False)}[op]
    parts = _split(item, "..")
    if len(parts) == 1:
        a, b = interval(item)
        return Range(lo=a, hi=b, hi_incl=False)
    if len(parts) != 2 or (not parts[0] and not parts[1]):
        raise ctx.error(item, "bad range: write a..b, ..b or a..")
    lo = interval(parts[0])[0] if parts[0] else None
    hi = interval(parts[1])[1] if parts[1] else None
    if lo is not None and hi is not None and lo >= hi:
        raise ctx.error(item, f"bad range: {_text(parts[0])} is after {_text(parts[1])}")
    return Range(lo=lo, hi=hi, hi_incl=False)


def _text_item(ctx: _Ctx, key: str, item: Chars) -> Cond:
    t = _text(item)
    quoted = _quoted(item)
    if not quoted and t.lower() == "none" and key in _NULLABLE_NONE:
        return IsNone()
    if key == "layout" and not quoted:
        t = LAYOUT_ALIASES.get(t.lower(), t)
    if key == "outcome" or key == "feature_outcome":
        if t.lower() not in OUTCOMES:
            raise ctx.error(item, f"unknown outcome {t!r}: one of {', '.join(OUTCOMES)}")
        return Eq(t.lower())
    if any(c == "*" and not q for c, q, _col in item):
        return Glob(t)
    return Eq(t)


def _field_scalar(s: str) -> Any:
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return _number(s, "float")
    except ValueError:
        return s


def _items(ctx: _Ctx, value: Chars) -> list[Chars]:
    items = _split(value, ",")
    if len(items) > MAX_ITEMS:
        raise ctx.error(value, f"too many values in one list (at most {MAX_ITEMS})")
    for it in items:
        if not it:
            raise ctx.error(value, "empty value in the list")
    return items


def _conds(ctx: _Ctx, key: str, value: Chars) -> tuple[tuple[Cond, ...], str | None]:
    kind = KEY_KINDS[key]
    if kind == "feature":
        parts = _split(value, "=")
        name = parts[0]
        if not name:
            raise ctx.error(value, "feature name missing: feature:side_ponytail=migrated")
        path = _text(name)
        if len(parts) == 1:
            return (), path
        rest = [c for p in parts[1:] for c in p]
        if len(parts) > 2 or not rest:
            raise ctx.error(parts[1] or value, "after = give an outcome: " + ", ".join(OUTCOMES))
        return tuple(_text_item(ctx, "feature_outcome", it) for it in _items(ctx, parts[1])), path
    if kind == "field":
        t = _text(value)
        cut = next((i for i, (c, q, _col) in enumerate(value) if not q and c in "=<>"), None)
        path_chars = value if cut is None else value[:cut]
        path = _text(path_chars)
        if not path or not _PATH_RE.match(path) or _quoted(path_chars):
            raise ctx.error(path_chars or value, "field path expected: field:characters.0.name=Lily, field:extra.eta>=0.5")
        if cut is None:
            return (), path
        rest = value[cut:]
        op, after = _op(rest)
        if not after:
            raise ctx.error(rest, f"nothing after {op!r}")
        if op == "=":
            conds = []
            for it in _items(ctx, after):
                if any(c == "*" and not q for c, q, _col in it):
                    conds.append(Glob(_text(it)))
                elif len(_split(it, "..")) > 1 and not _quoted(it):
                    conds.append(_ordered(ctx, it, lambda s: _number(s, "float"), False))
                else:
                    conds.append(Eq(_text(it) if _quoted(it) else _field_scalar(_text(it))))
            return tuple(conds), path
        del t
        return (_range_from_op(op, _value(ctx, after, _field_scalar)),), path
    out: list[Cond] = []
    for it in _items(ctx, value):
        if kind in ("int", "float", "weight"):
            out.append(_ordered(ctx, it, lambda s, k=kind: _number(s, "int" if k == "int" else "float"),
                                key in _NULLABLE_NONE))
        elif kind == "bool":
            t = _text(it).lower()
            if t == "none" and not _quoted(it):
                out.append(IsNone())
            elif t not in _BOOLS:
                raise ctx.error(it, f"{_text(it)!r}: expected yes or no")
            else:
                out.append(Eq(_BOOLS[t]))
        elif kind == "size":
            m = _SIZE_RE.match(_text(it))
            if not m:
                raise ctx.error(it, f"{_text(it)!r}: expected WIDTHxHEIGHT, e.g. 888x768")
            out.append(Size(int(m.group(1)), int(m.group(2))))
        elif kind == "date":
            out.append(_date_item(ctx, it))
        else:
            out.append(_text_item(ctx, key, it))
    return tuple(out), None


def _suggest(word: str) -> str:
    close = difflib.get_close_matches(word.lower(), VALID_KEYS, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def parse_query(text: str, now: datetime | None = None) -> Query:
    """Parse one query line. Raises QueryError (token, column, reason, valid keys)."""
    if not isinstance(text, str):
        raise QueryError(repr(text), 1, "a query is text")
    if len(text) > MAX_LENGTH:
        raise QueryError(text[:20] + "...", MAX_LENGTH + 1, f"query longer than {MAX_LENGTH} characters", text[:80])
    now = now or datetime.now(timezone.utc)
    terms: list[Term] = []
    for column, end, chars in _tokens(text):
        shown = text[column - 1: end]
        ctx = _Ctx(text, shown, column, now)
        negated = False
        if chars[0][0] == "-" and not chars[0][1]:
            negated = True
            chars = chars[1:]
            if not chars:
                raise ctx.error([], "nothing after '-': write -key:value or -word")
        colon = next((i for i, (c, q, _col) in enumerate(chars) if c == ":" and not q), None)
        head = _text(chars[:colon]) if colon is not None else ""
        if colon is not None and not _quoted(chars[:colon]) and _KEY_RE.match(head):
            key = ALIASES.get(head.lower(), head.lower())
            if key not in KEY_KINDS:
                raise ctx.error(chars, f"unknown key {head!r}{_suggest(head)}")
            value = chars[colon + 1:]
            if not value:
                raise ctx.error(chars, f"empty value: write {head}:VALUE")
            conds, path = _conds(ctx, key, value)
            terms.append(Term(key, conds, negated, shown, column, path))
        else:
            token = _text(chars)
            terms.append(Term("text", (Eq(token),), negated, shown, column))
        if len(terms) > MAX_TERMS:
            raise ctx.error(chars, f"too many terms (at most {MAX_TERMS})")
    return Query(text, tuple(terms))
