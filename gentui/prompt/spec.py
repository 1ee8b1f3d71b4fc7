"""The prompt spec: a scene, characters with a position and an appearance, a rule.

People who study LoRA bleed write prompts in one of two shapes, and gentui keeps
one structured spec behind both so that a sweep can vary one part (a name, a
ribbon colour, the layout) without re-typing the rest:

* the **JSON form** (`{"scene": ..., "left_character": {...}, "rule": ...}`),
* the **text form** (`2girls, simple background, side by side` / `Left girl: ...`).

`forms.py` renders and parses both; this module holds the data, the vocabulary
(positions, layouts, count words), the dict form used by sweep files, and the
error type every parser raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

POSITIONS = ("left", "middle", "right", "front", "back", "free")
"""Where a character stands; `free` means the prompt does not say."""
POSITION_ALIASES = {"center": "middle", "centre": "middle", "other": "free", "": "free"}
SLOT_KEYS = {p: f"{p}_character" for p in POSITIONS if p != "free"}
"""Position -> the JSON form's key (`left_character`, ...)."""
KEY_SLOTS = {v: k for k, v in SLOT_KEYS.items()} | {"center_character": "middle"}

LAYOUTS: dict[str, tuple[str, ...]] = {
    "side_by_side": ("side by side", "side-by-side"),
    "cluster": ("standing close together", "close together", "clustered", "cluster"),
    "depth": ("one in front of the other", "one behind the other", "depth"),
    "intertwined": ("arms intertwined", "intertwined"),
}
"""Known layouts -> the phrase rendered into the scene line (first) and the phrases read back."""

DEFAULT_RULE = "Keep the characters visually distinct. Do not mix hairstyles, outfits, or eye colors."
CHAR_FIELDS = ("name", "identity", "lora_trigger", "position", "appearance", "lora")

_COUNT_ITEM = r"(?:\d+\+?(?:girl|boy|other)s?|multiple (?:girls|boys|others)|no humans)"
COUNT_RE = re.compile(rf"^{_COUNT_ITEM}(?:\s*,\s*{_COUNT_ITEM})*$", re.IGNORECASE)
_LEADING_COUNT = re.compile(rf"^\s*({_COUNT_ITEM})\s*(?:,\s*|$)", re.IGNORECASE)


class PromptError(ValueError):
    """A prompt that cannot be read, with where (line/column or field) and what was expected."""

    def __init__(
        self,
        reason: str,
        *,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        expected: str | None = None,
    ):
        self.reason = reason
        self.line = line
        self.column = column
        self.field = field
        self.expected = expected
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        prefix = ", ".join(where)
        if self.field:
            prefix = f"{prefix}: {self.field}" if prefix else self.field
        msg = f"{prefix}: {self.reason}" if prefix else self.reason
        if self.expected:
            msg += f" (expected {self.expected})"
        return msg


def normalize_position(value: str) -> str:
    """`Left` -> `left`, `center` -> `middle`; unknown words are returned lowered (and rejected by callers)."""
    v = value.strip().lower()
    return POSITION_ALIASES.get(v, v)


def layout_key(value: str) -> str:
    return " ".join(value.strip().lower().replace("_", " ").replace("-", " ").split())


_LAYOUT_LOOKUP = {layout_key(name): name for name in LAYOUTS} | {
    layout_key(p): name for name, phrases in LAYOUTS.items() for p in phrases
}


def normalize_layout(value: str) -> str:
    """A known layout by name or phrase -> its name (`side by side` -> `side_by_side`); else the text itself."""
    v = value.strip()
    return _LAYOUT_LOOKUP.get(layout_key(v), v)


def layout_phrase(layout: str) -> str:
    """What a layout adds to the scene line: the known phrase, or the free text itself."""
    return LAYOUTS[layout][0] if layout in LAYOUTS else layout


def count_noun(count: str) -> str:
    """The word used in character labels: `girl` for `2girls`, `boy` for `2boys`, else `character`."""
    kinds = {m.group(1).lower() for m in re.finditer(r"(girl|boy|other)", count, re.IGNORECASE)}
    if kinds == {"girl"}:
        return "girl"
    if kinds == {"boy"}:
        return "boy"
    return "character"


@dataclass(frozen=True)
class Character:
    """One character of a prompt.

    `lora_trigger` is the LoRA's trigger word; it is rendered at the start of the
    character's description unless `omit_trigger` is set (the `no_trigger`
    control: the LoRA stays loaded, its trigger leaves the prompt).
    """

    appearance: str = ""
    name: str = ""
    identity: str = ""
    lora_trigger: str = ""
    position: str = "free"
    omit_trigger: bool = False
    lora: str = ""
    """The character's LoRA file, when it has one of its own (never rendered into the prompt)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", normalize_position(self.position))
        if not self.lora_trigger:  # nothing to omit
            object.__setattr__(self, "omit_trigger", False)

    @property
    def has_trigger(self) -> bool:
        """Whether the trigger word is in the prompt."""
        return bool(self.lora_trigger) and not self.omit_trigger

    @property
    def description(self) -> str:
        """What the prompt says about the character: trigger first, then the appearance."""
        parts = [self.lora_trigger] if self.has_trigger else []
        if self.appearance:
            parts.append(self.appearance)
        return ", ".join(parts)


@dataclass(frozen=True)
class PromptSpec:
    """Scene, characters and rule; `count` is the count word (`2girls`), `layout` a name or free text."""

    scene: str = ""
    characters: tuple[Character, ...] = ()
    rule: str = ""
    negative: str = ""
    layout: str = ""
    count: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "characters", tuple(self.characters))
        object.__setattr__(self, "layout", normalize_layout(self.layout))

    @property
    def named(self) -> bool:
        """True when there are characters and every one has a name."""
        return bool(self.characters) and all(c.name for c in self.characters)

    @property
    def scene_line(self) -> str:
        """Count, scene and (known) layout phrase: the text form's first line and the JSON `scene`."""
        parts = [self.count, self.scene]
        if self.layout in LAYOUTS:
            parts.append(layout_phrase(self.layout))
        return ", ".join(p for p in parts if p)

    def sidecar_characters(self) -> list[dict[str, Any]]:
        """The `characters` list for job parameters and sidecars (slot = position)."""
        out = []
        for c in self.characters:
            d: dict[str, Any] = {"slot": c.position}
            for f in CHAR_FIELDS:
                v = getattr(c, f)
                if v:
                    d[f] = v
            d["has_trigger"] = c.has_trigger
            out.append(d)
        return out

    def with_character(self, index: int, **changes: Any) -> PromptSpec:
        chars = list(self.characters)
        chars[index] = replace(chars[index], **changes)
        return replace(self, characters=tuple(chars))


def split_scene_line(line: str, *, peel_count: bool = True, peel_layout: bool = True) -> tuple[str, str, str]:
    """`2girls, simple background, side by side` -> (`2girls`, `simple background`, `side_by_side`).

    Leading count words become the count; a known layout phrase at the end
    becomes the layout (unless `peel_layout` is false); the rest is the scene.
    """
    rest = line.strip()
    counts = []
    while peel_count and (m := _LEADING_COUNT.match(rest)):
        counts.append(m.group(1))
        rest = rest[m.end():]
    layout = ""
    if peel_layout:
        low = rest.lower()
        for phrase in sorted(_LAYOUT_LOOKUP_PHRASES, key=len, reverse=True):
            if low == phrase or re.search(rf",\s*{re.escape(phrase)}$", low):
                layout = _LAYOUT_LOOKUP[layout_key(phrase)]
                rest = re.sub(rf"(^|\s*,\s*){re.escape(phrase)}$", "", rest, flags=re.IGNORECASE)
                break
    return ", ".join(counts), rest.strip(), layout


_LAYOUT_LOOKUP_PHRASES = [p.lower() for phrases in LAYOUTS.values() for p in phrases]


def default_positions(n: int, layout: str = "") -> list[str]:
    """Positions given to characters that do not say: left/right, left/middle/right, or front/back for depth."""
    if layout == "depth":
        table = {1: ["front"], 2: ["front", "back"], 3: ["front", "middle", "back"]}
    else:
        table = {1: ["middle"], 2: ["left", "right"], 3: ["left", "middle", "right"]}
    return table.get(n, ["free"] * n)


# -- dict form (sweep files, the Sweep row) ---------------------------------

_SPEC_KEYS = ("scene", "count", "layout", "characters", "rule", "negative")


def spec_to_dict(spec: PromptSpec) -> dict[str, Any]:
    """Every non-empty field, in a stable order; `spec_from_table` reads it back exactly."""
    out: dict[str, Any] = {}
    for key in ("scene", "count", "layout"):
        if getattr(spec, key):
            out[key] = getattr(spec, key)
    chars = []
    for c in spec.characters:
        d: dict[str, Any] = {}
        for f in ("name", "identity", "lora_trigger", "position", "appearance", "lora"):
            v = getattr(c, f)
            if v or f == "position":
                d[f] = v
        if c.omit_trigger:
            d["omit_trigger"] = True
        chars.append(d)
    if chars:
        out["characters"] = chars
    for key in ("rule", "negative"):
        if getattr(spec, key):
            out[key] = getattr(spec, key)
    return out


def spec_from_table(data: Any, where: str = "prompt") -> PromptSpec:
    """A spec from a sweep file table, in the spec's own keys (`forms.spec_from_dict` takes JSON forms too).

    Characters without a `position` get left/right (left/middle/right for
    three, front/back for the depth layout). A `scene` that starts with count
    words or ends with a layout phrase is split when `count`/`layout` are absent.
    Errors name the field path under `where`.
    """
    if not isinstance(data, dict):
        raise PromptError(f"expected a table, got {_type_name(data)}", field=where)
    for key in data:
        if key not in _SPEC_KEYS:
            raise PromptError(f"unknown key {key!r}", field=f"{where}.{key}", expected=", ".join(_SPEC_KEYS))
    vals = {k: _string(data, k, where) for k in ("scene", "count", "layout", "rule", "negative")}
    if vals["count"] and not COUNT_RE.match(vals["count"]):
        raise PromptError(f"{vals['count']!r} is not a count word", field=f"{where}.count",
                          expected="words like 2girls, 1girl, 1boy, 3girls")
    count, scene, layout = split_scene_line(vals["scene"], peel_count=not vals["count"], peel_layout=not vals["layout"])
    vals["count"] = vals["count"] or count
    vals["layout"] = vals["layout"] or layout
    vals["scene"] = scene
    raw_chars = data.get("characters", [])
    if not isinstance(raw_chars, list):
        raise PromptError(f"expected a list of tables, got {_type_name(raw_chars)}", field=f"{where}.characters")
    layout = normalize_layout(vals["layout"])
    defaults = default_positions(len(raw_chars), layout)
    chars = [_char_from_dict(raw, f"{where}.characters[{i}]", defaults[i]) for i, raw in enumerate(raw_chars)]
    return PromptSpec(characters=tuple(chars), **vals)


def _char_from_dict(raw: Any, path: str, default_position: str) -> Character:
    if isinstance(raw, str):
        return Character(appearance=raw.strip(), position=default_position)
    if not isinstance(raw, dict):
        raise PromptError(f"expected a table, got {_type_name(raw)}", field=path)
    allowed = (*CHAR_FIELDS, "omit_trigger", "has_trigger", "slot")
    for key in raw:
        if key not in allowed:
            raise PromptError(f"unknown key {key!r}", field=f"{path}.{key}", expected=", ".join(allowed))
    vals = {k: _string(raw, k, path) for k in CHAR_FIELDS}
    if not vals["position"] and "slot" in raw:
        vals["position"] = _string(raw, "slot", path)
    vals["position"] = check_position(vals["position"] or default_position, f"{path}.position")
    omit = False
    for key, inverted in (("has_trigger", True), ("omit_trigger", False)):  # has_trigger: the sidecar's name
        if key in raw:
            if not isinstance(raw[key], bool):
                raise PromptError(f"expected true or false, got {raw[key]!r}", field=f"{path}.{key}")
            omit = (not raw[key]) if inverted else raw[key]
    return Character(omit_trigger=omit and bool(vals["lora_trigger"]), **vals)


def check_position(value: str, path: str) -> str:
    pos = normalize_position(value)
    if pos not in POSITIONS:
        raise PromptError(f"unknown position {value!r}", field=path, expected=", ".join(POSITIONS))
    return pos


def _string(data: dict[str, Any], key: str, path: str) -> str:
    """A string field (a list of strings is joined with `, `), stripped."""
    v = data.get(key, "")
    if v is None:
        return ""
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return ", ".join(x.strip() for x in v if x.strip())
    if not isinstance(v, str):
        raise PromptError(f"expected a string, got {_type_name(v)}", field=f"{path}.{key}" if path else key)
    return v.strip()


def _type_name(v: Any) -> str:
    names = {dict: "an object", list: "a list", bool: "true/false", int: "a number", float: "a number",
             str: "a string", type(None): "null"}
    return names.get(type(v), type(v).__name__)


def spec_fields() -> list[str]:
    return [f.name for f in fields(PromptSpec)]


__all__ = [
    "DEFAULT_RULE", "LAYOUTS", "POSITIONS", "Character", "PromptError", "PromptSpec", "default_positions",
    "normalize_layout", "spec_from_table", "spec_to_dict", "split_scene_line",
]
