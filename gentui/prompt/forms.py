"""Rendering a PromptSpec to the JSON and text forms, and parsing either back.

JSON form::

    {"scene": "2girls, simple background, side by side",
     "left_character": {"name": "Kanachan", "appearance": "kanachan, chestnut hair, side ponytail"},
     "right_character": {"name": "Reina", "appearance": "black hair, navy blazer"},
     "rule": "Kanachan and Reina are two distinct people. Do not mix hairstyles, outfits, or eye colors."}

Characters with a free or repeated position use a `characters` list instead of
the slot keys. Text form::

    2girls, simple background, side by side
    Left girl (Kanachan): kanachan, chestnut hair, side ponytail
    Right girl (Reina), the class president: black hair, navy blazer
    Keep the characters visually distinct. Do not mix hairstyles, outfits, or eye colors.

The LoRA trigger is the first item of a character's description in both forms;
to read it back the parser must be told which words are triggers (`triggers=`),
or the JSON must carry an explicit `lora_trigger` key. A free-text layout (one
that is not side_by_side/cluster/depth/intertwined) is a `"layout"` key in JSON
and a `Layout: ...` line in text. `parse(render(spec)) == spec` for every spec
without problems reported by `text_form_problems`/`json_form_problems`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from gentui.prompt.spec import (
    _LEADING_COUNT,
    COUNT_RE,
    KEY_SLOTS,
    LAYOUTS,
    SLOT_KEYS,
    Character,
    PromptError,
    PromptSpec,
    _string,
    _type_name,
    check_position,
    count_noun,
    normalize_layout,
    spec_from_table,
    split_scene_line,
)

POSITION_LABELS = {"left": "Left", "middle": "Middle", "right": "Right", "front": "Front", "back": "Back",
                   "free": "Other"}
_LABEL_WORDS = "left|middle|right|front|back|center|centre|other"
_NOUNS = "girl|boy|character|person|woman|man"
_CHAR_HEAD = re.compile(rf"^(?P<pos>{_LABEL_WORDS})\s+(?:{_NOUNS})(?![\w])(?P<rest>.*)$", re.IGNORECASE)
_CHAR_REST = re.compile(r"^\s*(?:\((?P<name>[^()]*)\))?\s*(?:,\s*(?P<identity>[^:]*?))?\s*:(?P<body>.*)$")
_LAYOUT_LINE = re.compile(r"^layout\s*:(.*)$", re.IGNORECASE)
_NEGATIVE_LINE = re.compile(r"^negative(?: prompt)?\s*:(.*)$", re.IGNORECASE)
_JSON_KEYS = ("scene", "layout", *SLOT_KEYS.values(), "center_character", "characters", "rule", "negative")
_JSON_CHAR_KEYS = ("name", "identity", "lora_trigger", "appearance", "position", "slot", "has_trigger",
                   "omit_trigger")


# -- rendering --------------------------------------------------------------

def uses_slot_keys(spec: PromptSpec) -> bool:
    """Slot keys (`left_character`) when every character has its own non-free position."""
    positions = [c.position for c in spec.characters]
    return "free" not in positions and len(set(positions)) == len(positions)


def json_object(spec: PromptSpec, *, with_negative: bool = False) -> dict[str, Any]:
    """The JSON form as a dict (key order: scene, layout, characters, rule, negative)."""
    obj: dict[str, Any] = {}
    if spec.scene_line:
        obj["scene"] = spec.scene_line
    if spec.layout and spec.layout not in LAYOUTS:
        obj["layout"] = spec.layout
    if uses_slot_keys(spec):
        for c in spec.characters:
            obj[SLOT_KEYS[c.position]] = _char_object(c, with_position=False)
    elif spec.characters:
        obj["characters"] = [_char_object(c, with_position=True) for c in spec.characters]
    if spec.rule:
        obj["rule"] = spec.rule
    if with_negative and spec.negative:
        obj["negative"] = spec.negative
    return obj


def _char_object(c: Character, *, with_position: bool) -> dict[str, str]:
    d: dict[str, str] = {}
    if c.name:
        d["name"] = c.name
    if with_position and c.position != "free":
        d["position"] = c.position
    if c.identity:
        d["identity"] = c.identity
    if c.description:
        d["appearance"] = c.description
    return d


def render_json(spec: PromptSpec, *, with_negative: bool = False, indent: int | None = 2) -> str:
    """The JSON form; the negative prompt is left out unless asked for (it is its own job parameter)."""
    return json.dumps(json_object(spec, with_negative=with_negative), ensure_ascii=False, indent=indent)


def render_text(spec: PromptSpec, *, with_negative: bool = False) -> str:
    """The text form: scene line, `Layout:` line for a free-text layout, character lines, rule lines."""
    lines = []
    if spec.scene_line:
        lines.append(spec.scene_line)
    if spec.layout and spec.layout not in LAYOUTS:
        lines.append(f"Layout: {spec.layout}")
    noun = count_noun(spec.count)
    for c in spec.characters:
        label = f"{POSITION_LABELS[c.position]} {noun}"
        if c.name:
            label += f" ({c.name})"
        if c.identity:
            label += f", {c.identity}"
        desc = c.description
        lines.append(f"{label}: {desc}" if desc else f"{label}:")
    if spec.rule:
        lines.extend(spec.rule.split("\n"))
    # An empty negative line keeps a last line that starts with "Negative:" from being read as one.
    if with_negative and (spec.negative or (lines and _NEGATIVE_LINE.match(lines[-1]))):
        lines.append(f"Negative prompt: {spec.negative}".rstrip())
    return "\n".join(lines)


# -- parsing ----------------------------------------------------------------

def parse_prompt(text: str, *, triggers: Iterable[str] = ()) -> PromptSpec:
    """Either form: text that starts with `{` or `[` is read as JSON, anything else as the text form."""
    if looks_like_json(text):
        return parse_json_prompt(text, triggers=triggers)
    return parse_text_prompt(text, triggers=triggers)


def looks_like_json(text: str) -> bool:
    return text.lstrip().startswith(("{", "["))


def parse_json_prompt(text: str, *, triggers: Iterable[str] = ()) -> PromptSpec:
    """A pasted JSON prompt; errors carry the line and column of the JSON mistake or the field path."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise PromptError(f"not valid JSON: {e.msg}", line=e.lineno, column=e.colno,
                          expected="a JSON object like {\"scene\": ..., \"left_character\": {...}}") from None
    except (ValueError, RecursionError) as e:
        raise PromptError(f"not valid JSON: {str(e)[:120]}", line=1, column=1) from None
    if not isinstance(obj, dict):
        raise PromptError(f"the prompt is {_type_name(obj)}", line=1, column=1,
                          expected="a JSON object like {\"scene\": ..., \"left_character\": {...}}")
    return spec_from_json_object(obj, triggers=triggers)


def spec_from_json_object(obj: dict[str, Any], *, triggers: Iterable[str] = (), where: str = "") -> PromptSpec:
    """The JSON form already decoded; accepts slot keys or a `characters` list."""
    triggers = tuple(t for t in triggers if t)
    path = (lambda k: f"{where}.{k}") if where else (lambda k: k)
    for key in obj:
        if key not in _JSON_KEYS:
            raise PromptError(f"unknown key {key!r}", field=path(key), expected=", ".join(_JSON_KEYS))
    scene_line = _string(obj, "scene", where)
    layout = normalize_layout(_string(obj, "layout", where))
    count, scene, peeled = split_scene_line(scene_line, peel_layout=not layout)
    slot_keys = [k for k in obj if k in KEY_SLOTS]
    if slot_keys and "characters" in obj:
        raise PromptError("both slot keys and a characters list", field=path("characters"),
                          expected="either left_character/right_character/... or a characters list")
    chars: list[Character] = []
    for key in slot_keys:
        chars.append(_json_char(obj[key], path(key), KEY_SLOTS[key], triggers))
    if "characters" in obj:
        raw = obj["characters"]
        if not isinstance(raw, list):
            raise PromptError(f"expected a list, got {_type_name(raw)}", field=path("characters"))
        chars = [_json_char(c, f"{path('characters')}[{i}]", None, triggers) for i, c in enumerate(raw)]
    return PromptSpec(
        scene=scene, count=count, layout=layout or peeled, characters=tuple(chars),
        rule=_string(obj, "rule", where), negative=_string(obj, "negative", where),
    )


def spec_from_dict(data: Any, where: str = "prompt") -> PromptSpec:
    """A spec from a sweep file table or a pasted JSON prompt object (slot keys or a characters list).

    Characters without a `position` get left/right (left/middle/right for
    three, front/back for the depth layout). Errors name the field path under `where`.
    """
    if isinstance(data, dict) and any(k in KEY_SLOTS for k in data):
        return spec_from_json_object(data, where=where)
    return spec_from_table(data, where=where)


def _json_char(raw: Any, path: str, slot: str | None, triggers: tuple[str, ...]) -> Character:
    if isinstance(raw, str):
        raw = {"appearance": raw}
    if not isinstance(raw, dict):
        raise PromptError(f"expected an object, got {_type_name(raw)}", field=path,
                          expected='{"name": ..., "appearance": ...}')
    for key in raw:
        if key not in _JSON_CHAR_KEYS:
            raise PromptError(f"unknown key {key!r}", field=f"{path}.{key}",
                              expected=", ".join(_JSON_CHAR_KEYS[:5]) + " (put other details in appearance)")
    vals = {k: _string(raw, k, path) for k in ("name", "identity", "lora_trigger", "appearance", "position", "slot")}
    declared = check_position(vals["position"] or vals["slot"], f"{path}.position") if (
        vals["position"] or vals["slot"]) else ""
    if slot and declared and declared != slot:
        raise PromptError(f"position {declared!r} under the {slot} slot", field=f"{path}.position",
                          expected=f"{slot} or no position")
    omit = False
    for key, inverted in (("has_trigger", True), ("omit_trigger", False)):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise PromptError(f"expected true or false, got {raw[key]!r}", field=f"{path}.{key}")
            omit = (not raw[key]) if inverted else raw[key]
    trigger, appearance = vals["lora_trigger"], vals["appearance"]
    if trigger:
        appearance = _strip_trigger(appearance, (trigger,))[1] if not omit else appearance
    else:
        trigger, appearance = _strip_trigger(appearance, triggers)
    return Character(name=vals["name"], identity=vals["identity"], lora_trigger=trigger, appearance=appearance,
                     position=slot or declared or "free", omit_trigger=omit and bool(trigger))


def _strip_trigger(description: str, triggers: Iterable[str]) -> tuple[str, str]:
    """(`kanachan`, `chestnut hair`) from `kanachan, chestnut hair` when `kanachan` is a known trigger."""
    for t in sorted(triggers, key=len, reverse=True):
        if description == t:
            return t, ""
        m = re.match(rf"{re.escape(t)}\s*,\s*", description)
        if m:
            return t, description[m.end():].strip()
    return "", description


def parse_text_prompt(text: str, *, triggers: Iterable[str] = ()) -> PromptSpec:
    """The text form; a line that looks like a character line but is not well formed is an error."""
    triggers = tuple(t for t in triggers if t)
    items = [(i + 1, raw) for i, raw in enumerate(re.split(r"\r\n|\r|\n", text)) if raw.strip()]
    negative = ""
    if items and (m := _NEGATIVE_LINE.match(items[-1][1].strip())):
        negative = m.group(1).strip()
        items.pop()
    idx = 0
    scene_line = layout = ""
    has_layout_line = any(_LAYOUT_LINE.match(line.strip()) for _, line in items[:2])
    if items and not _char_line(*items[0], triggers) and not _LAYOUT_LINE.match(items[0][1].strip()):
        scene_line = items[0][1].strip()
        idx = 1
    if idx < len(items) and (m := _LAYOUT_LINE.match(items[idx][1].strip())):
        layout = normalize_layout(m.group(1))
        idx += 1
    chars = []
    while idx < len(items) and (c := _char_line(*items[idx], triggers)) is not None:
        chars.append(c)
        idx += 1
    rule_lines = []
    for no, line in items[idx:]:
        if _char_line(no, line, triggers) is not None or _LAYOUT_LINE.match(line.strip()):
            raise PromptError("a character or layout line after the rule lines", line=no,
                              column=len(line) - len(line.lstrip()) + 1,
                              expected="the scene line first, then character lines, then the rule")
        rule_lines.append(line.strip())
    count, scene, peeled = split_scene_line(scene_line, peel_layout=not has_layout_line)
    return PromptSpec(scene=scene, count=count, layout=layout or peeled, characters=tuple(chars),
                      rule="\n".join(rule_lines), negative=negative)


def _char_line(no: int, line: str, triggers: tuple[str, ...]) -> Character | None:
    """A `Left girl (Name), identity: description` line, None when the line is not one, or PromptError."""
    indent = len(line) - len(line.lstrip())
    stripped = line.strip()
    head = _CHAR_HEAD.match(stripped)
    if not head:
        return None
    rest = head.group("rest")
    if ":" not in rest or not rest.lstrip().startswith(("(", ",", ":")):
        return None
    m = _CHAR_REST.match(rest)
    if not m:
        col = indent + head.start("rest") + 1
        if "(" in rest and ")" not in rest.split(":")[0]:
            col = indent + head.start("rest") + rest.index("(") + 1
            raise PromptError("the name in parentheses is not closed", line=no, column=col,
                              expected="`Left girl (Name): description`")
        raise PromptError("character line not understood", line=no, column=col,
                          expected="`Left girl (Name), identity: description`")
    trigger, appearance = _strip_trigger(m.group("body").strip(), triggers)
    return Character(name=(m.group("name") or "").strip(), identity=(m.group("identity") or "").strip(),
                     lora_trigger=trigger, appearance=appearance, position=head.group("pos"))


# -- what a form can carry --------------------------------------------------

def _common_problems(spec: PromptSpec, triggers: Iterable[str]) -> list[str]:
    triggers = tuple(t for t in triggers if t)
    out = []
    texts = {"scene": spec.scene, "count": spec.count, "layout": spec.layout, "rule": spec.rule,
             "negative": spec.negative}
    for i, c in enumerate(spec.characters):
        for f in ("name", "identity", "lora_trigger", "appearance"):
            texts[f"characters[{i}].{f}"] = getattr(c, f)
        if c.omit_trigger:
            out.append(f"characters[{i}]: an omitted trigger is not in the prompt, so it cannot be read back")
        if not c.has_trigger and _strip_trigger(c.appearance, triggers)[0]:
            out.append(f"characters[{i}].appearance starts with a trigger word")
        if c.lora_trigger and not c.omit_trigger and c.lora_trigger not in triggers:
            out.append(f"characters[{i}].lora_trigger {c.lora_trigger!r} is not among the known triggers")
    for key, value in texts.items():
        if value != value.strip():
            out.append(f"{key} has surrounding whitespace")
    if spec.count and not COUNT_RE.match(spec.count):
        out.append("count is not a count word")
    if _LEADING_COUNT.match(spec.scene):
        out.append("scene starts with a count word")
    if spec.layout not in LAYOUTS and split_scene_line(spec.scene, peel_count=False)[2]:
        out.append("scene ends with a layout phrase")
    if spec.layout in LAYOUTS and split_scene_line(spec.scene, peel_count=False)[2]:
        out.append("scene ends with a layout phrase")
    return out


def json_form_problems(spec: PromptSpec, triggers: Iterable[str] = ()) -> list[str]:
    """Why `parse_json_prompt(render_json(spec))` would not give `spec` back (empty: it will)."""
    return _common_problems(spec, triggers)


def text_form_problems(spec: PromptSpec, triggers: Iterable[str] = ()) -> list[str]:
    """Why `parse_text_prompt(render_text(spec))` would not give `spec` back (empty: it will)."""
    out = _common_problems(spec, triggers)
    single = [spec.scene, spec.count, spec.layout, spec.negative] + [
        getattr(c, f) for c in spec.characters for f in ("name", "identity", "lora_trigger", "appearance")]
    if any("\n" in v or "\r" in v for v in single):
        out.append("a field other than rule spans lines")
    rule_lines = spec.rule.split("\n") if spec.rule else []
    if any(not ln.strip() or ln != ln.strip() or "\r" in ln for ln in rule_lines):
        out.append("rule has a blank or padded line")
    for c in spec.characters:
        if "(" in c.name or ")" in c.name or ":" in c.identity:
            out.append("a name with parentheses or an identity with a colon")
    first = spec.scene_line
    if first and (_CHAR_HEAD.match(first) or _LAYOUT_LINE.match(first) or _NEGATIVE_LINE.match(first)):
        out.append("the scene line reads as another kind of line")
    if not first and not (spec.layout and spec.layout not in LAYOUTS) and not spec.characters and spec.rule:
        out.append("a rule with no scene line and no characters reads as the scene")
    if not first and spec.layout and spec.layout not in LAYOUTS and _NEGATIVE_LINE.match(f"Layout: {spec.layout}"):
        out.append("layout line reads as negative")
    for ln in rule_lines:
        if _LAYOUT_LINE.match(ln) or _CHAR_HEAD.match(ln):
            out.append("a rule line reads as a character or layout line")
    if rule_lines and _NEGATIVE_LINE.match(rule_lines[-1]):
        out.append("the last rule line reads as the negative prompt")
    if not spec.rule and not spec.characters and not (spec.layout and spec.layout not in LAYOUTS) and (
            first and _NEGATIVE_LINE.match(first)):
        out.append("the scene line reads as the negative prompt")
    return out
