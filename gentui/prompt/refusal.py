"""Judging a translation reply: refusals, untranslated Japanese, empty text, broken JSON.

Small local models sometimes refuse innocent prompts ("Sorry, I can't help with
that", "申し訳ありませんが…"), echo the Japanese back, or mangle a JSON prompt.
Each of those replies is rejected with a short reason so the cascade can ask the
next model, and the reason ends up in the sidecar.
"""

from __future__ import annotations

import json
import re
from typing import Any

_JAPANESE = re.compile(r"[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
JAPANESE_RATIO_LIMIT = 0.3
"""A reply whose letters are more than this share kana/kanji is 'still Japanese'."""
REFUSAL_WINDOW = 300
"""Refusal phrases are looked for in the reply's first characters only."""

_APOS = "['\u2019]"
_REFUSALS_EN = [
    rf"^\W*(?:I{_APOS}m |I am |I{_APOS}m so |I am so )?sorry\b",
    (rf"\bI(?: cannot| can{_APOS}t| can not| won{_APOS}t| will not| am unable to|{_APOS}m unable to| am not able to"
     rf"|{_APOS}m not able to) (?:help|assist|translate|provide|create|comply|fulfil|fulfill|generate|produce"
     r"|process|do that|do this|write|complete|support)"),
    rf"^\W*I(?: cannot| can{_APOS}t| can not| won{_APOS}t| am unable|{_APOS}m unable)\b",
    r"\bAs an AI\b",
    r"\bAs a language model\b",
    r"\bI must (?:decline|refuse)\b",
    r"\bnot (?:able|allowed) to (?:help|assist|comply) with\b",
    r"\bagainst (?:my|the) (?:guidelines|policies|content policy)\b",
]
_REFUSALS_JA = ["申し訳", "できません", "お手伝いできません", "お応えできません", "お答えできません", "対応できません",
                "ご遠慮", "すみません", "控えさせて", "お断り"]
_REFUSAL_RE = re.compile("|".join(f"(?:{p})" for p in _REFUSALS_EN), re.IGNORECASE)


def has_japanese(text: str) -> bool:
    """Any kana or kanji at all: text without it is sent as it is."""
    return bool(_JAPANESE.search(text))


def japanese_ratio(text: str) -> float:
    """Share of the letters that are kana/kanji (0 for text without letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _JAPANESE.match(ch)) / len(letters)


def refusal_phrase(reply: str) -> str | None:
    """The refusal phrase found near the start of the reply, or None."""
    head = reply[:REFUSAL_WINDOW]
    m = _REFUSAL_RE.search(head)
    if m:
        return m.group(0).strip()
    for phrase in _REFUSALS_JA:
        if phrase in head:
            return phrase
    return None


def strip_reply(reply: str) -> str:
    """Drop a reasoning block (`<think>...</think>`) and a code fence around the answer."""
    text = re.sub(r"<think>.*?</think>", "", reply, flags=re.DOTALL).strip()
    fence = re.fullmatch(r"```[A-Za-z]*\s*\n?(.*?)\n?```", text, flags=re.DOTALL)
    return fence.group(1).strip() if fence else text


def shape_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two JSON values differ in keys (recursively) or list lengths; None when the shapes match."""
    here = path or "the top level"
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return f"{here} is not an object"
        missing, extra = [k for k in a if k not in b], [k for k in b if k not in a]
        if missing or extra:
            parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
                [f"extra {', '.join(map(repr, extra))}"] if extra else [])
            return f"keys differ at {here}: {'; '.join(parts)}"
        for k in a:
            diff = shape_difference(a[k], b[k], f"{path}.{k}" if path else k)
            if diff:
                return diff
        return None
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return f"{here} is not a list of {len(a)}"
        for i, (x, y) in enumerate(zip(a, b)):
            diff = shape_difference(x, y, f"{path}[{i}]")
            if diff:
                return diff
    return None


def string_values(value: Any) -> list[str]:
    """Every string leaf of a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in string_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in string_values(v)]
    return []


def reject_reason(reply: str, source_json: Any = None) -> str | None:
    """Why a (stripped) reply is not an acceptable translation, or None to accept it.

    `source_json` is the decoded source when the prompt is JSON: the reply must
    then be JSON with the same keys, recursively.
    """
    if not reply.strip():
        return "empty reply"
    if source_json is not None:
        try:
            decoded = json.loads(reply)
        except (ValueError, RecursionError):
            phrase = refusal_phrase(reply)
            return f"refusal ({phrase!r})" if phrase else "not valid JSON"
        try:
            diff = shape_difference(source_json, decoded)
        except RecursionError:
            return "JSON nested too deeply to compare"
        if diff:
            return f"JSON {diff}"
        ratio = japanese_ratio(" ".join(string_values(decoded)))
    else:
        phrase = refusal_phrase(reply)
        if phrase:
            return f"refusal ({phrase!r})"
        ratio = japanese_ratio(reply)
    if ratio > JAPANESE_RATIO_LIMIT:
        return f"still Japanese ({ratio:.0%} of the letters)"
    return None
