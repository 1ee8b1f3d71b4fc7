"""Publishable tables: one row per result, one column per character with what was judged.

This is the table people paste into write-ups:

| seed | weight | left (Kanachan) | right (Reina) | tags |
|---|---|---|---|---|
| 1293127692 | 0.8 | side_ponytail present; scrunchie color_drift orange | - | keeper |
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from gentui.analysis.axes import axis_label, axis_value, check_axis
from gentui.catalog.db import Catalog
from gentui.catalog.models import Annotation, Character, Tag
from gentui.catalog.sidecar import SLOT_ORDER

DEFAULT_AXES = ("seed", "weight", "layout", "named")


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


def describe_annotation(a: Any) -> str:
    """`side_ponytail migrated -> right`, `scrunchie color_drift orange`, `hair_color present`."""
    text = f"{a.feature} {a.outcome}".strip()
    if a.target:
        text += f" -> {a.target}"
    if a.color:
        text += f" {a.color}"
    if a.note:
        text += f" ({a.note})"
    return text


def _slot_rank(slot: str) -> tuple:
    if slot in SLOT_ORDER:
        return (0, SLOT_ORDER.index(slot), "")
    return (1, int(slot) if slot.isdigit() else 0, slot)


def annotation_table(catalog: Catalog, results: Sequence[Any], axes: Iterable[str] = DEFAULT_AXES,
                     with_path: bool = False) -> Table:
    """Rows for `results` (search rows or Result objects) with per-character judgements."""
    axes = [check_axis(a) for a in axes]
    ids = [r.id for r in results]
    anns: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    names: dict[int, dict[str, str]] = defaultdict(dict)
    tags: dict[int, list[str]] = defaultdict(list)
    slots: set[str] = set()
    with catalog.engine.connect() as conn:
        for chunk in _chunks(ids, 500):
            for c in conn.execute(select(Character.result_id, Character.slot, Character.name)
                                  .where(Character.result_id.in_(chunk))):
                slots.add(c.slot)
                if c.name:
                    names[c.result_id][c.slot] = c.name
            for a in conn.execute(select(Annotation).where(Annotation.result_id.in_(chunk))
                                  .order_by(Annotation.id)):
                slots.add(a.slot)
                anns[a.result_id][a.slot].append(describe_annotation(a))
            for t in conn.execute(select(Tag.result_id, Tag.tag).where(Tag.result_id.in_(chunk))
                                  .order_by(Tag.tag)):
                tags[t.result_id].append(t.tag)
    slot_list = sorted(slots, key=_slot_rank)
    headers = list(axes)
    for slot in slot_list:
        seen = sorted({names[i][slot] for i in ids if slot in names[i]})
        headers.append(f"{slot} ({', '.join(seen)})" if seen else slot)
    headers.append("tags")
    if with_path:
        headers.append("path")
    rows = []
    for r in results:
        row = [axis_label(a, axis_value(r, a)) for a in axes]
        row += ["; ".join(anns[r.id][slot]) or "-" for slot in slot_list]
        row.append(", ".join(tags[r.id]))
        if with_path:
            row.append(r.path)
        rows.append(row)
    return Table(headers, rows)


def _chunks(items: list[int], n: int) -> Iterable[list[int]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def render_markdown(table: Table) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in table.headers) + " |",
             "|" + "|".join("---" for _ in table.headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def render_csv(table: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.headers)
    w.writerows(table.rows)
    return buf.getvalue()


def render_json(table: Table) -> str:
    return "".join(json.dumps(dict(zip(table.headers, row)), ensure_ascii=False) + "\n" for row in table.rows)


RENDERERS = {"md": render_markdown, "csv": render_csv, "json": render_json}
