"""Suggested annotations: what a vision model thinks it sees, kept apart from the user's judgements.

Suggestions live in the image's sidecar under `suggestions` (the sidecar is the
truth, so a rebuilt catalog keeps them; the field index makes them queryable as
`field:suggestions.0.state=pending`). They never count as judgements: the bleed
matrix, the tables and the query language read annotations only. Accepting a
suggestion records it as an annotation authored by the model that suggested it
(through the same write path as the user's, mirrored into the sidecar in the
same step) and marks the suggestion `accepted`; rejecting marks it `rejected`.
Nothing the user annotated is ever changed. Attempts that failed (time-out,
refusal, malformed JSON) are kept as `failed` entries with the reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlmodel import Session

from gentui.catalog.annotations import (TARGET_OUTCOMES, AnnotationError, _apply, _characters, _entry,
                                        resolve_slot)
from gentui.catalog.models import Annotation, Result
from gentui.catalog.query_parser import OUTCOMES

STATES = ("pending", "accepted", "rejected", "failed")
FIELDS = ("slot", "feature", "outcome", "target", "color", "note", "author")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_suggestion(slot: str, feature: str, outcome: str, author: str, *, target: str | None = None,
                   color: str | None = None, note: str | None = None) -> dict[str, Any]:
    """A pending suggestion entry (as stored in the sidecar)."""
    return {"id": "s-" + uuid.uuid4().hex[:10], "slot": slot, "feature": feature, "outcome": outcome,
            "target": target, "color": color, "note": note, "author": author, "state": "pending",
            "created_at": _now(), "decided_at": None, "annotation_id": None, "error": None}


def failed_attempt(slot: str, author: str, reason: str) -> dict[str, Any]:
    """A recorded failure: the model was asked about `slot` and gave nothing usable."""
    entry = new_suggestion(slot, "", "", author)
    entry.update(state="failed", error=reason[:300])
    return entry


def suggestions_in(sidecar: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The well-formed suggestion entries of a sidecar (others are ignored)."""
    raw = (sidecar or {}).get("suggestions")
    if not isinstance(raw, list):
        return []
    return [s for s in raw if isinstance(s, dict) and isinstance(s.get("id"), str) and s.get("state") in STATES]


def pending(sidecar: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [s for s in suggestions_in(sidecar) if s["state"] == "pending"]


def describe_suggestion(s: dict[str, Any]) -> str:
    """`side_ponytail migrated -> right (qwen2.5vl:7b)`; a failure reads `asked about left: timed out`."""
    if s.get("state") == "failed":
        return f"{s.get('author')}: asked about {s.get('slot')}: {s.get('error')}"
    text = f"{s.get('feature')} {s.get('outcome')}"
    if s.get("target"):
        text += f" -> {s['target']}"
    if s.get("color"):
        text += f" {s['color']}"
    return text


def _read(catalog: Any, result_id: int) -> tuple[Result, dict[str, Any]]:
    from pathlib import Path

    from gentui.catalog.sidecar import read_sidecar, sidecar_path_for

    with catalog.session() as s:
        r = s.get(Result, result_id)
    if r is None:
        raise AnnotationError(f"no result with id {result_id}")
    path = Path(r.sidecar_path) if r.sidecar_path else sidecar_path_for(r.path)
    return r, (read_sidecar(path) if path.exists() else {})


def load_suggestions(catalog: Any, result_id: int) -> list[dict[str, Any]]:
    """Every suggestion entry of a result, oldest first."""
    return suggestions_in(_read(catalog, result_id)[1])


def add_suggestions(catalog: Any, result_id: int, entries: list[dict[str, Any]]) -> None:
    """Append entries (pending or failed) to the result's sidecar."""
    if not entries:
        return

    def side(d: dict[str, Any], _r: Result) -> None:
        d["suggestions"] = suggestions_in(d) + list(entries)

    _apply(catalog, [result_id], lambda _s, _rs: None, side)


def decide(catalog: Any, result_id: int, suggestion_id: str, accept: bool) -> int | None:
    """Accept (record as an annotation by its model; returns the annotation id) or reject a pending suggestion."""
    _r, data = _read(catalog, result_id)
    entry = next((s for s in suggestions_in(data) if s["id"] == suggestion_id), None)
    if entry is None:
        raise AnnotationError(f"result {result_id} has no suggestion {suggestion_id}")
    if entry["state"] != "pending":
        raise AnnotationError(f"suggestion {suggestion_id} is already {entry['state']}")
    row: Annotation | None = None
    if accept:
        row = _annotation_from(catalog, result_id, entry)

    def db(s: Session, _results: list[Result]) -> Annotation | None:
        if row is not None:
            s.add(row)
            s.flush()
        return row

    def side(d: dict[str, Any], _r: Result) -> None:
        items = suggestions_in(d)
        for s in items:
            if s["id"] == suggestion_id:
                s["state"] = "accepted" if accept else "rejected"
                s["decided_at"] = _now()
                s["annotation_id"] = row.id if row is not None else None
        d["suggestions"] = items
        if row is not None:
            anns = d.get("annotations") if isinstance(d.get("annotations"), list) else []
            d["annotations"] = anns + [_entry(row)]

    _apply(catalog, [result_id], db, side)
    return row.id if row is not None else None


def _annotation_from(catalog: Any, result_id: int, e: dict[str, Any]) -> Annotation:
    outcome = str(e.get("outcome") or "")
    feature = str(e.get("feature") or "").strip()
    if outcome not in OUTCOMES or not feature:
        raise AnnotationError(f"suggestion {e['id']} has no usable feature/outcome; reject it instead")
    if outcome in TARGET_OUTCOMES and not e.get("target"):
        raise AnnotationError(f"suggestion {e['id']} says {outcome} but names no target; reject it instead")
    with catalog.session() as s:
        chars = _characters(s, result_id)
    slot = resolve_slot(chars, str(e.get("slot") or ""))
    color = e.get("color") or None
    if outcome == "color_drift" and not color:
        raise AnnotationError(f"suggestion {e['id']} says color_drift but names no colour; reject it instead")
    return Annotation(result_id=result_id, slot=slot, feature=feature, outcome=outcome,
                      target=e.get("target") or None, color=color, note=e.get("note") or None,
                      author=str(e.get("author") or "model"))


def decide_all(catalog: Any, result_id: int, accept: bool) -> int:
    """Accept or reject every pending suggestion of a result; returns how many were decided."""
    done = 0
    for s in pending(_read(catalog, result_id)[1]):
        decide(catalog, result_id, s["id"], accept)
        done += 1
    return done
