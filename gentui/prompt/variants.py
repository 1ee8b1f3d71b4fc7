"""Prompt variants: named transformations of a spec, the prompt axis of a sweep.

A variant is one or more steps joined by `+`, applied left to right:

* `base` - the spec as it is.
* `named` - the rule names the characters ("Kanachan and Reina are two distinct people. ...");
  every character must have a name.
* `unnamed` - names removed; the rule says "Keep the characters visually distinct. ...".
* `no_trigger` / `no_trigger:CHAR` - the LoRA trigger leaves the prompt (the LoRA stays loaded).
* `layout:NAME` - side_by_side, cluster, depth, intertwined or free text; switching to or
  from depth turns left/middle/right into front/middle/back and back.
* `set:CHAR.FIELD=VALUE` - FIELD is name, identity, appearance, lora_trigger or position;
  `set:FIELD=VALUE` sets scene, rule, count or negative.
* `replace:CHAR:OLD=>NEW` - text replacement in one character's appearance and identity;
  `replace:OLD=>NEW` replaces in the scene, the rule and every character.

CHAR is a character's name (any case), its position (left, middle, right, front, back)
or its number (1 is the first). A VALUE, OLD or NEW holding `+`, `:`, `=` or
surrounding spaces is written as a JSON string: `set:Lily.appearance="red+blue"`.
Each variant has a short, stable `label` for file names (`named+notrigger`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace

from gentui.prompt.spec import (
    DEFAULT_RULE,
    LAYOUTS,
    POSITIONS,
    Character,
    PromptError,
    PromptSpec,
    check_position,
    default_positions,
    normalize_layout,
    normalize_position,
)

SIMPLE = ("base", "named", "unnamed", "no_trigger")
KINDS = (*SIMPLE, "layout", "set", "replace")
CHAR_SET_FIELDS = ("name", "identity", "appearance", "lora_trigger", "position")
SPEC_SET_FIELDS = ("scene", "rule", "count", "negative")
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
_DISTINCT = re.compile(
    r"^\s*(?:Keep the characters visually distinct\.|[^.\n]+? (?:is|are) (?:one|two|three|four|five|six|\d+)"
    r" distinct (?:people|persons|characters|person)\.)\s*", re.IGNORECASE)
UNNAMED_SENTENCE = "Keep the characters visually distinct."
SYNTAX = ("base | named | unnamed | no_trigger[:CHAR] | layout:NAME | set:CHAR.FIELD=VALUE | set:FIELD=VALUE"
          " | replace:[CHAR:]OLD=>NEW, joined with +")


class VariantError(PromptError):
    """A variant that cannot be read or applied; `column` points into the variant text."""


@dataclass(frozen=True)
class Step:
    """One transformation: `kind` plus its arguments (unused ones are empty)."""

    kind: str
    char: str = ""
    field: str = ""
    value: str = ""
    old: str = ""

    @property
    def text(self) -> str:
        """The canonical text, which `parse_variant` reads back to this step."""
        if self.kind in ("base", "named", "unnamed"):
            return self.kind
        if self.kind == "no_trigger":
            return f"no_trigger:{_q(self.char, ':')}" if self.char else "no_trigger"
        if self.kind == "layout":
            return f"layout:{_q(self.value, '')}"
        if self.kind == "set":
            target = f"{_q(self.char, '.=', name=True)}.{self.field}" if self.char else self.field
            return f"set:{target}={_q(self.value, '')}"
        prefix = f"{_q(self.char, ':=', name=True)}:" if self.char else ""
        return f"replace:{prefix}{_q(self.old, ':=')}=>{_q(self.value, '')}"

    @property
    def label(self) -> str:
        """Short, file-name-safe, stable."""
        if self.kind in ("base", "named", "unnamed"):
            return self.kind
        h = hashlib.sha1(self.text.encode()).hexdigest()[:4]
        if self.kind == "no_trigger":
            return f"notrigger-{_slug(self.char)}" if self.char else "notrigger"
        if self.kind == "layout":
            return self.value if self.value in LAYOUTS else f"layout-{_slug(self.value)[:16]}-{h}"
        if self.kind == "set":
            who = f"{_slug(self.char)[:12]}-" if self.char else ""
            return f"set-{who}{self.field}-{_slug(self.value)[:12]}-{h}"
        who = f"{_slug(self.char)[:12]}-" if self.char else ""
        return f"replace-{who}{_slug(self.value)[:12]}-{h}"


@dataclass(frozen=True)
class Variant:
    """Steps applied in order; `text` reads back to the same variant, `label` names its files."""

    steps: tuple[Step, ...] = (Step("base"),)

    @property
    def text(self) -> str:
        return "+".join(s.text for s in self.steps)

    @property
    def label(self) -> str:
        return "+".join(s.label for s in self.steps)

    def apply(self, spec: PromptSpec) -> PromptSpec:
        for step in self.steps:
            spec = _apply_step(spec, step)
        return spec


def _q(value: str, specials: str, *, name: bool = False) -> str:
    """Quote a value as a JSON string when it would not read back bare."""
    risky = "+\"" + specials
    if (not value or value != value.strip() or any(ch in value for ch in risky) or "=>" in value
            or (name and "\\" in value) or any(ord(ch) < 32 for ch in value)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _slug(value: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    return s or hashlib.sha1(value.encode()).hexdigest()[:6]


# -- parsing ------------------------------------------------------------------

class _Reader:
    """A cursor over the variant text that knows about JSON-quoted values."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, reason: str, expected: str | None = None, at: int | None = None) -> VariantError:
        return VariantError(reason, column=(self.pos if at is None else at) + 1, expected=expected)

    def value(self, stops: tuple[str, ...]) -> str:
        """A bare value up to one of `stops` (or `+`/the end), or a JSON string."""
        start = self.pos
        if self.text.startswith('"', self.pos):
            try:
                val, end = json.JSONDecoder().raw_decode(self.text, self.pos)
            except ValueError:
                raise self.error("unterminated or invalid quoted value", 'a JSON string like "red+blue"') from None
            self.pos = end
            return val
        ends = [i for s in (*stops, "+") if (i := self.text.find(s, self.pos)) >= 0]
        self.pos = min(ends) if ends else len(self.text)
        return self.text[start:self.pos].strip()

    def expect(self, token: str, expected: str) -> None:
        if not self.text.startswith(token, self.pos):
            found = self.text[self.pos:self.pos + 12] or "the end"
            raise self.error(f"found {found!r}", expected)
        self.pos += len(token)


def parse_variant(text: str) -> Variant:
    """`named+no_trigger` -> Variant; VariantError names the column and the syntax."""
    if not text.strip():
        return Variant()
    r = _Reader(text)
    steps = []
    while True:
        steps.append(_parse_step(r))
        _skip_spaces_before_plus(r)
        if r.pos >= len(text):
            break
        r.expect("+", "`+` between steps")
    return Variant(tuple(steps))


def _parse_step(r: _Reader) -> Step:
    while r.text.startswith(" ", r.pos):
        r.pos += 1
    start = r.pos
    m = re.compile(r"[A-Za-z_\-]*").match(r.text, r.pos)
    word = m.group(0).lower().replace("-", "_")
    r.pos = m.end()
    if word == "notrigger":
        word = "no_trigger"
    if word not in KINDS:
        raise r.error(f"unknown variant {r.text[start:m.end()] or r.text[start:start + 10]!r}", SYNTAX, at=start)
    has_arg = r.text.startswith(":", r.pos)
    if word in ("base", "named", "unnamed") or (word == "no_trigger" and not has_arg):
        if has_arg:
            raise r.error(f"`{word}` takes no argument", SYNTAX)
        _skip_spaces_before_plus(r)
        return Step(word)
    r.expect(":", f"`{word}:` followed by its argument")
    if word == "no_trigger":
        return Step(word, char=_nonempty(r, r.value(()), "a character name, position or number"))
    if word == "layout":
        return Step(word, value=normalize_layout(_nonempty(r, r.value(()), ", ".join(LAYOUTS) + " or free text")))
    if word == "set":
        return _parse_set(r)
    return _parse_replace(r)


def _skip_spaces_before_plus(r: _Reader) -> None:
    while r.text.startswith(" ", r.pos):
        r.pos += 1


def _nonempty(r: _Reader, value: str, expected: str) -> str:
    if not value:
        raise r.error("missing argument", expected)
    return value


def _parse_set(r: _Reader) -> Step:
    at = r.pos
    if r.text.startswith('"', r.pos):
        char = r.value(())
        r.expect(".", "`.FIELD` after the character")
        target_field = r.value(("=",))
    else:
        target = r.value(("=",))
        char, _, target_field = target.rpartition(".")
    r.expect("=", "`=VALUE`")
    value = r.value(())
    allowed = CHAR_SET_FIELDS if char else SPEC_SET_FIELDS
    if target_field not in allowed:
        raise r.error(f"cannot set {target_field!r}" + (f" of {char!r}" if char else ""),
                      "CHAR." + "|".join(CHAR_SET_FIELDS) + " or " + "|".join(SPEC_SET_FIELDS)
                      + "; to change part of a field use replace:CHAR:OLD=>NEW", at=at)
    if target_field == "position":
        try:
            value = check_position(value, "position")
        except PromptError:
            raise r.error(f"unknown position {value!r}", ", ".join(POSITIONS), at=at) from None
    return Step("set", char=char.strip(), field=target_field, value=value)


def _parse_replace(r: _Reader) -> Step:
    char = ""
    if r.text.startswith('"', r.pos):
        first = r.value(())
        if r.text.startswith(":", r.pos):
            r.pos += 1
            char, old = first, r.value(("=>",))
        else:
            old = first
    else:
        arrow = r.text.find("=>", r.pos)
        colon = r.text.find(":", r.pos)
        if 0 <= colon < (arrow if arrow >= 0 else len(r.text)):
            char = r.text[r.pos:colon].strip()
            r.pos = colon + 1
        old = r.value(("=>",))
    r.expect("=>", "`OLD=>NEW`")
    new = r.value(())
    return Step("replace", char=char, old=_nonempty(r, old, "the text to replace before `=>`"), value=new)


# -- applying -----------------------------------------------------------------

def apply_variant(spec: PromptSpec, variant: Variant | str) -> PromptSpec:
    """The spec transformed by `variant` (a Variant or its text); VariantError when it does not fit."""
    if isinstance(variant, str):
        variant = parse_variant(variant)
    return variant.apply(spec)


def _apply_step(spec: PromptSpec, step: Step) -> PromptSpec:
    k = step.kind
    if k == "base":
        return spec
    if k == "named":
        return _named(spec)
    if k == "unnamed":
        chars = tuple(replace(c, name="") for c in spec.characters)
        rule = spec.rule
        if _DISTINCT.match(rule):
            rule = f"{UNNAMED_SENTENCE} {_DISTINCT.sub('', rule, count=1)}".strip()
        return replace(spec, characters=chars, rule=rule)
    if k == "no_trigger":
        idx = [_find_char(spec, step.char, step)] if step.char else range(len(spec.characters))
        hits = [i for i in idx if spec.characters[i].lora_trigger]
        if not hits:
            raise VariantError("no character here has a lora_trigger to remove", field=step.text)
        for i in hits:
            spec = spec.with_character(i, omit_trigger=True)
        return spec
    if k == "layout":
        return _layout(spec, step.value)
    if k == "set":
        if not step.char:
            return replace(spec, **{step.field: step.value})
        return spec.with_character(_find_char(spec, step.char, step), **{step.field: step.value})
    return _replace(spec, step)


def _named(spec: PromptSpec) -> PromptSpec:
    if not spec.characters:
        raise VariantError("the spec has no characters to name", field="named")
    missing = [f"{i + 1} ({c.position})" for i, c in enumerate(spec.characters) if not c.name]
    if missing:
        raise VariantError(f"character {', '.join(missing)} has no name", field="named",
                           expected="a name for every character (set:left.name=Kanachan)")
    names = [c.name for c in spec.characters]
    rest = _DISTINCT.sub("", spec.rule, count=1).strip() if spec.rule else DEFAULT_RULE.split(". ", 1)[1]
    if len(names) == 1:
        return replace(spec, rule=rest if _DISTINCT.match(spec.rule) else spec.rule)
    joined = f"{', '.join(names[:-1])} and {names[-1]}"
    sentence = f"{joined} are {_NUMBER_WORDS.get(len(names), str(len(names)))} distinct people."
    return replace(spec, rule=f"{sentence} {rest}".strip())


def _layout(spec: PromptSpec, layout: str) -> PromptSpec:
    layout = normalize_layout(layout)
    if (spec.layout == "depth") == (layout == "depth"):
        return replace(spec, layout=layout)
    order = ["front", "left", "middle", "right", "back"]
    placed = sorted((order.index(c.position), i) for i, c in enumerate(spec.characters) if c.position != "free")
    targets = default_positions(len(placed), layout)
    chars = list(spec.characters)
    for (_, i), pos in zip(placed, targets):
        chars[i] = replace(chars[i], position=pos)
    return replace(spec, layout=layout, characters=tuple(chars))


def _find_char(spec: PromptSpec, who: str, step: Step) -> int:
    key = who.strip().lower()
    if key.lstrip("#").isdigit():
        n = int(key.lstrip("#"))
        if 1 <= n <= len(spec.characters):
            return n - 1
    else:
        hits = [i for i, c in enumerate(spec.characters) if c.name.lower() == key]
        if not hits:
            hits = [i for i, c in enumerate(spec.characters) if c.position == check_or_blank(key)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise VariantError(f"{who!r} matches {len(hits)} characters", field=step.text,
                               expected="a name or a character number (1 is the first)")
    known = ", ".join(f"{i + 1}: {c.name or c.position}" for i, c in enumerate(spec.characters)) or "none"
    raise VariantError(f"no character {who!r}", field=step.text, expected=f"one of {known}")


def check_or_blank(value: str) -> str:
    """The position a word names, or a value no character has."""
    pos = normalize_position(value)
    return pos if pos in POSITIONS and pos != "free" else "\0"


def _replace(spec: PromptSpec, step: Step) -> PromptSpec:
    found = False

    def sub(text: str) -> str:
        nonlocal found
        if step.old in text:
            found = True
            return text.replace(step.old, step.value)
        return text

    if step.char:
        i = _find_char(spec, step.char, step)
        c: Character = spec.characters[i]
        spec = spec.with_character(i, appearance=sub(c.appearance), identity=sub(c.identity))
        where = f"{step.char}'s appearance or identity"
    else:
        chars = tuple(replace(c, appearance=sub(c.appearance), identity=sub(c.identity)) for c in spec.characters)
        spec = replace(spec, scene=sub(spec.scene), rule=sub(spec.rule), characters=chars)
        where = "the scene, the rule or any character"
    if not found:
        raise VariantError(f"{step.old!r} is not in {where}", field=step.text)
    return spec
