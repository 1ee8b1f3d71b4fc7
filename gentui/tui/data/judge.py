"""Judging results from the keyboard: annotations, tags and ratings with undo.

Every change goes through `gentui.catalog.annotations`, which writes the
catalog and the sidecar at once. The undo stack records the inverse of each
change so `u` can take back the last one (blocking: call from a thread).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from gentui.catalog.db import Catalog
from gentui.catalog.models import Annotation, Result, Tag

OUTCOMES = ["present", "missing", "migrated", "duplicated", "color_drift", "collapse", "artifact"]
NEEDS_TARGET = {"migrated", "duplicated"}
NEEDS_COLOR = {"color_drift"}
COMMON_FEATURES = ["side_ponytail", "ahoge", "scrunchie_color", "hair_color", "eye_color",
                   "outfit", "hairstyle", "accessory"]


@dataclass
class Change:
    """One undoable change: what it was, for the message, and how to take it back."""

    what: str
    result_id: int
    kind: str
    """annotation, tag_added, tag_removed, rating."""
    data: dict[str, Any] = field(default_factory=dict)


class Judge:
    """Applies judgements to one catalog and remembers how to undo them."""

    def __init__(self, catalog: Catalog, depth: int = 100):
        self.catalog = catalog
        self.undo_stack: list[Change] = []
        self.depth = depth
        self.lock = threading.RLock()
        """Serialises changes: two quick key presses never read the same old rating."""

    def _push(self, change: Change) -> Change:
        self.undo_stack.append(change)
        del self.undo_stack[:-self.depth]
        return change

    def annotate(self, result_id: int, slot: str, feature: str, outcome: str,
                 target: str | None = None, color: str | None = None, note: str | None = None) -> Change:
        from gentui.catalog.annotations import add_annotation

        aid = add_annotation(self.catalog, result_id, slot, feature, outcome, target=target,
                             color=color, note=note, author="user")
        text = f"{slot} {feature} {outcome}" + (f" -> {target}" if target else "") + (f" {color}" if color else "")
        return self._push(Change(f"annotated #{result_id}: {text}", result_id, "annotation", {"id": aid}))

    def tags_of(self, result_id: int) -> set[str]:
        with self.catalog.session() as s:
            return set(s.exec(select(Tag.tag).where(Tag.result_id == result_id)))

    def toggle_tag(self, result_id: int, tag: str) -> Change:
        from gentui.catalog.annotations import add_tags, remove_tags

        if tag in self.tags_of(result_id):
            remove_tags(self.catalog, [result_id], [tag])
            return self._push(Change(f"#{result_id}: removed tag {tag}", result_id, "tag_removed", {"tag": tag}))
        add_tags(self.catalog, [result_id], [tag])
        return self._push(Change(f"#{result_id}: tagged {tag}", result_id, "tag_added", {"tag": tag}))

    def rating_of(self, result_id: int) -> int:
        with self.catalog.session() as s:
            r = s.get(Result, result_id)
            return int(r.rating or 0) if r else 0

    def rate(self, result_id: int, delta: int | None = None, value: int | None = None) -> Change:
        from gentui.catalog.annotations import set_rating

        old = self.rating_of(result_id)
        new = value if value is not None else old + (delta or 0)
        new = max(0, min(5, new))
        set_rating(self.catalog, result_id, new or None)
        return self._push(Change(f"#{result_id}: rating {new}", result_id, "rating", {"old": old}))

    def undo(self) -> Change | None:
        """Take back the last change; None when there is nothing to undo."""
        from gentui.catalog.annotations import (
            add_tags,
            remove_annotation,
            remove_tags,
            set_rating,
        )

        if not self.undo_stack:
            return None
        c = self.undo_stack.pop()
        if c.kind == "annotation":
            remove_annotation(self.catalog, c.data["id"])
        elif c.kind == "tag_added":
            remove_tags(self.catalog, [c.result_id], [c.data["tag"]])
        elif c.kind == "tag_removed":
            add_tags(self.catalog, [c.result_id], [c.data["tag"]])
        elif c.kind == "rating":
            set_rating(self.catalog, c.result_id, c.data["old"] or None)
        return c


def recent_features(catalog: Catalog, limit: int = 12) -> list[str]:
    """Features annotated lately (most recent first), then the common ones."""
    with catalog.session() as s:
        rows = s.exec(select(Annotation.feature).order_by(Annotation.id.desc()).limit(200))
        seen: list[str] = []
        for f in rows:
            if f and f not in seen:
                seen.append(f)
            if len(seen) >= limit:
                break
    for f in COMMON_FEATURES:
        if f not in seen:
            seen.append(f)
    return seen[: max(limit, len(seen))]
