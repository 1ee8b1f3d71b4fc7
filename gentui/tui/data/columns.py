"""The results table's columns: what each shows, how wide it is, what it sorts by.

Kept apart from the widget so the bench, the tests and the command palette can
name columns without building a widget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gentui.catalog.sidecar import format_weight


def _yes_no(value: Any) -> str:
    if value is None:
        return "-"
    return "yes" if value else "no"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(v) for v in value)
    return str(value).replace("\n", " ")


def _weight(row: Any) -> str:
    if getattr(row, "use_lora", None) is False:
        return "off"
    return format_weight(getattr(row, "lora_strength", None))


def _created(row: Any) -> str:
    value = getattr(row, "created_at", None)
    if isinstance(value, datetime):
        return value.strftime("%m-%d %H:%M")
    return _text(value)[:11]


def prompt_summary(text: Any) -> str:
    """One line for a prompt: a JSON prompt becomes `scene | names`, whitespace collapses."""
    if not text:
        return "-"
    text = str(text)
    if text.lstrip().startswith("{"):
        try:
            import json

            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            names = [v.get("name") or v.get("appearance", "")[:20] for k, v in obj.items()
                     if k.endswith("_character") and isinstance(v, dict)]
            chars = obj.get("characters")
            if isinstance(chars, list):
                names += [c.get("name") or "" for c in chars if isinstance(c, dict)]
            scene = str(obj.get("scene") or "")
            return " | ".join(p for p in (scene, ", ".join(n for n in names if n)) if p) or " ".join(text.split())
    return " ".join(text.split())


def _rating(row: Any) -> str:
    value = getattr(row, "rating", None)
    return "*" * int(value) if value else ""


@dataclass(frozen=True)
class Column:
    """One column of the results table."""

    key: str
    """Short id, also the sort key handed to `query.search`."""
    title: str
    width: int
    """Preferred width in cells; 0 means "takes the remaining space"."""
    cell: Callable[[Any], str]
    align: str = "left"
    min_width: int = 0
    """Below this the column is dropped on narrow terminals (0: always shown)."""


def attr(name: str, fmt: Callable[[Any], str] = _text) -> Callable[[Any], str]:
    return lambda row: fmt(getattr(row, name, None))


COLUMNS: list[Column] = [
    Column("id", "id", 5, attr("id"), align="right"),
    Column("seed", "seed", 10, attr("seed"), align="right"),
    Column("weight", "w", 5, _weight, align="right"),
    Column("layout", "layout", 11, attr("layout")),
    Column("chars", "ch", 2, attr("n_characters"), align="right"),
    Column("named", "named", 5, attr("named", _yes_no), min_width=90),
    Column("variant", "variant", 8, attr("variant"), min_width=120),
    Column("tags", "tags", 10, attr("tags")),
    Column("rating", "rate", 4, _rating, min_width=100),
    Column("status", "status", 7, attr("status"), min_width=110),
    Column("created", "created", 11, _created, min_width=140),
    Column("prompt", "prompt", 0, lambda row: prompt_summary(getattr(row, "prompt_src", None)
                                                             or getattr(row, "prompt_en", None))),
]

SORTABLE = ["created", "id", "seed", "weight", "layout", "chars", "rating", "status"]
"""Columns the sort key cycles through, in order."""


def visible_columns(width: int) -> list[Column]:
    """The columns that fit a table `width` cells wide."""
    return [c for c in COLUMNS if not c.min_width or width >= c.min_width]


def layout_widths(columns: list[Column], width: int) -> list[int]:
    """Each column's width; the flexible one takes what is left (at least 6)."""
    fixed = sum(c.width for c in columns if c.width) + len(columns) + 1
    rest = max(6, width - fixed)
    return [c.width or rest for c in columns]
