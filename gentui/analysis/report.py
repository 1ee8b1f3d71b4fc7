"""Write-up tables: what the annotations say, per result or per value of an axis.

Per result (`gentui export table`), one column per character:

| seed | weight | left (Kanachan) | right (Reina) | tags |
|---|---|---|---|---|
| 1293127692 | 0.8 | side_ponytail present; scrunchie color_drift orange | - | keeper |

Per value of an axis (`gentui report QUERY --by weight`), the table write-ups
publish: each character's own features and what bled onto it from the others,
with counts when several seeds share a value (`side_ponytail present 2/3`
means 2 of the 3 judged images):

| weight | images | judged | left (Kanachan) | bleed onto left | right (Reina) | bleed onto right | tags |
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from gentui.analysis.axes import axis_label, axis_value, check_axis, sort_key
from gentui.analysis.tables import RENDERERS, Table, render_csv, render_json, render_markdown
from gentui.catalog.annotations import TARGET_OUTCOMES, describe_annotation
from gentui.catalog.db import Catalog
from gentui.catalog.models import Annotation, Character, Tag
from gentui.catalog.sidecar import SLOT_ORDER

__all__ = ["DEFAULT_AXES", "RENDERERS", "Judgements", "Table", "annotation_table", "describe_annotation",
           "cell_notes", "grouped_table", "load_judgements", "render_csv", "render_json", "render_markdown"]

DEFAULT_AXES = ("seed", "weight", "layout", "named")


@dataclass
class Judgements:
    """Characters, annotations and tags of a set of results, loaded in one pass."""

    names: dict[int, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    annotations: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    tags: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    slots: list[str] = field(default_factory=list)

    def slot_header(self, slot: str, ids: Iterable[int]) -> str:
        seen = sorted({self.names[i][slot] for i in ids if slot in self.names[i]})
        return f"{slot} ({', '.join(seen)})" if seen else slot

    def by_slot(self, rid: int) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = defaultdict(list)
        for a in self.annotations.get(rid, []):
            out[a.slot].append(a)
        return out


def _slot_rank(slot: str) -> tuple:
    if slot in SLOT_ORDER:
        return (0, SLOT_ORDER.index(slot), "")
    return (1, int(slot) if slot.isdigit() else 0, slot)


def _chunks(items: list[int], n: int = 500) -> Iterable[list[int]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def load_judgements(catalog: Catalog, ids: Sequence[int]) -> Judgements:
    j = Judgements()
    slots: set[str] = set()
    with catalog.engine.connect() as conn:
        for chunk in _chunks(list(ids)):
            for c in conn.execute(select(Character.result_id, Character.slot, Character.name)
                                  .where(Character.result_id.in_(chunk))):
                slots.add(c.slot)
                if c.name:
                    j.names[c.result_id][c.slot] = c.name
            for a in conn.execute(select(Annotation).where(Annotation.result_id.in_(chunk))
                                  .order_by(Annotation.id)):
                slots.add(a.slot)
                j.annotations[a.result_id].append(a)
            for t in conn.execute(select(Tag.result_id, Tag.tag).where(Tag.result_id.in_(chunk))
                                  .order_by(Tag.tag)):
                j.tags[t.result_id].append(t.tag)
    j.slots = sorted(slots, key=_slot_rank)
    return j


def annotation_table(catalog: Catalog, results: Sequence[Any], axes: Iterable[str] = DEFAULT_AXES,
                     with_path: bool = False) -> Table:
    """Rows for `results` (search rows or Result objects) with per-character judgements."""
    axes = [check_axis(a) for a in axes]
    ids = [r.id for r in results]
    j = load_judgements(catalog, ids)
    headers = list(axes) + [j.slot_header(s, ids) for s in j.slots] + ["tags"] + (["path"] if with_path else [])
    rows, records = [], []
    for r in results:
        per = j.by_slot(r.id)
        row = [axis_label(a, axis_value(r, a)) for a in axes]
        row += ["; ".join(describe_annotation(a) for a in per.get(slot, [])) or "-" for slot in j.slots]
        row.append(", ".join(j.tags[r.id]))
        rec: dict[str, Any] = {"id": r.id, **{a: axis_value(r, a) for a in axes},
                               "characters": {s: {"name": j.names[r.id].get(s),
                                                  "annotations": [_ann_record(a) for a in per.get(s, [])]}
                                              for s in j.slots},
                               "tags": list(j.tags[r.id])}
        if with_path:
            row.append(r.path)
            rec["path"] = r.path
        rows.append(row)
        records.append(rec)
    return Table(headers, rows, records)


def _ann_record(a: Any) -> dict[str, Any]:
    return {"feature": a.feature, "outcome": a.outcome, "target": a.target, "color": a.color, "note": a.note,
            "author": a.author}


# ---------------------------------------------------------------- per value of an axis
def _count_text(what: str, n: int, judged: int) -> str:
    return what if judged <= 1 else f"{what} {n}/{judged}"


def grouped_table(catalog: Catalog, results: Sequence[Any], by: str = "weight") -> Table:
    """One row per value of `by`: each character's features and what bled onto it, with counts."""
    check_axis(by)
    ids = [r.id for r in results]
    j = load_judgements(catalog, ids)
    groups: dict[Any, list[Any]] = defaultdict(list)
    for r in results:
        groups[axis_value(r, by)].append(r)
    many = len(j.slots) > 1
    headers = [by, "images", "judged"]
    for s in j.slots:
        headers.append(j.slot_header(s, ids))
        if many:
            headers.append(f"bleed onto {s}")
    headers.append("tags")
    rows, records = [], []
    for value in sorted(groups, key=sort_key):
        members = groups[value]
        judged = [r for r in members if j.annotations.get(r.id)]
        own: dict[str, Counter] = defaultdict(Counter)
        onto: dict[str, Counter] = defaultdict(Counter)
        for r in judged:
            seen_own: set[tuple] = set()
            seen_onto: set[tuple] = set()
            for a in j.annotations[r.id]:
                seen_own.add((a.slot, a.feature, a.outcome, a.target or "", a.color or ""))
                if a.outcome in TARGET_OUTCOMES and a.target:
                    for t in a.target.split(","):
                        seen_onto.add((t.strip(), a.feature, a.slot, a.outcome))
            for slot, *key in seen_own:
                own[slot][tuple(key)] += 1
            for slot, *key in seen_onto:
                onto[slot][tuple(key)] += 1
        n = len(judged)
        row = [axis_label(by, value), str(len(members)), str(n)]
        rec: dict[str, Any] = {by: value, "images": len(members), "judged": n, "characters": {}}
        for s in j.slots:
            items = sorted(own[s].items(), key=lambda kv: (-kv[1], kv[0]))
            texts = [_count_text(_own_text(k), c, n) for k, c in items]
            row.append("; ".join(texts) if texts else ("-" if not n else "not judged"))
            arrived = sorted(onto[s].items(), key=lambda kv: (-kv[1], kv[0]))
            if many:
                bled = [_count_text(f"{f} (from {src}, {o})", c, n) for (f, src, o), c in arrived]
                row.append("; ".join(bled) if bled else ("-" if not n else "none"))
            rec["characters"][s] = {
                "names": sorted({j.names[r.id][s] for r in members if s in j.names[r.id]}),
                "features": [{"feature": f, "outcome": o, "target": t or None, "color": col or None, "count": c}
                             for (f, o, t, col), c in items],
                "bleed_onto": [{"feature": f, "from": src, "outcome": o, "count": c} for (f, src, o), c in arrived]}
        tags = Counter(t for r in members for t in j.tags[r.id])
        row.append(", ".join(t if c == 1 and len(members) == 1 else f"{t} {c}/{len(members)}"
                             for t, c in sorted(tags.items())))
        rec["tags"] = dict(sorted(tags.items()))
        rows.append(row)
        records.append(rec)
    return Table(headers, rows, records)


def _own_text(key: tuple) -> str:
    feature, outcome, target, color = key
    text = f"{feature} {outcome}"
    if target:
        text += f" -> {target}"
    if color:
        text += f" {color}"
    return text


def cell_notes(catalog: Catalog, results: Sequence[Any]) -> dict[int, list[str]]:
    """Lines to draw on each result's cell of a contact sheet: `left: side_ponytail present`, tags."""
    j = load_judgements(catalog, [r.id for r in results])
    out: dict[int, list[str]] = {}
    for r in results:
        lines = [f"{slot}: " + "; ".join(describe_annotation(a) for a in anns)
                 for slot, anns in sorted(j.by_slot(r.id).items(), key=lambda kv: _slot_rank(kv[0]))]
        if j.tags.get(r.id):
            lines.append("tags: " + ", ".join(j.tags[r.id]))
        if lines:
            out[r.id] = lines
    return out
