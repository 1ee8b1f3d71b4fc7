"""Judgements about results: feature outcomes per character, free tags, ratings.

Every change is written to the catalog and mirrored into the image's sidecar in
one step (the sidecar is the truth; DESIGN principle 1). If the sidecar cannot
be written, the catalog change is rolled back and any sidecar already touched
is restored, so the two never disagree. An image without a sidecar gets one
holding only what gentui adds (`annotations`, `tags`, `rating`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from gentui.catalog.models import Annotation, Character, Result, Tag
from gentui.catalog.query_parser import OUTCOMES
from gentui.catalog.sidecar import SidecarError, sidecar_path_for, update_sidecar

TARGET_OUTCOMES = ("migrated", "duplicated")
GENERIC_SLOTS = ("left", "middle", "right", "front", "back")
_TAG_RE = re.compile(r"[^\s,\"]{1,64}\Z")


class AnnotationError(ValueError):
    """A judgement that cannot be recorded; the message says what would be right."""


class SidecarWriteError(AnnotationError):
    """The sidecar could not be written; the catalog change was rolled back."""


# ---------------------------------------------------------------- how a judgement reads
def describe_annotation(a: Any) -> str:
    """`side_ponytail migrated -> right`, `scrunchie color_drift orange`, `ahoge present [llava:13b]`.

    The one wording of a judgement, used by the preview, the tables and the write-up;
    a judgement made by a model (an accepted suggestion) names that model.
    """
    text = f"{a.feature} {a.outcome}".strip()
    if a.target:
        text += f" -> {a.target}"
    if a.color:
        text += f" {a.color}"
    if a.note:
        text += f" ({a.note})"
    if getattr(a, "author", None) and a.author != "user":
        text += f" [{a.author}]"
    return text


# ---------------------------------------------------------------- references
def resolve_results(catalog: Any, refs: Iterable[Any]) -> list[Result]:
    """Results by id (`42`) or by image / sidecar path, in the order given.

    Raises AnnotationError naming every reference that matches nothing.
    """
    found: list[Result] = []
    missing: list[str] = []
    with catalog.session() as s:
        for ref in refs:
            r = _resolve_one(s, ref)
            if r is None:
                missing.append(str(ref))
            elif all(r.id != f.id for f in found):
                found.append(r)
    if missing:
        raise AnnotationError(f"not in the catalog: {', '.join(missing)} "
                              "(give a result id or an image path; `gentui import` adds images)")
    return found


def _resolve_one(s: Session, ref: Any) -> Result | None:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        r = s.get(Result, int(ref))
        if r is not None or isinstance(ref, int):
            return r
    p = Path(str(ref)).expanduser()
    candidates = {str(p), str(p.absolute())}
    try:
        candidates.add(str(p.resolve()))
    except (OSError, RuntimeError):
        pass
    for c in candidates:
        r = s.exec(select(Result).where(Result.path == c)).first()
        if r is None:
            r = s.exec(select(Result).where(Result.sidecar_path == c)).first()
        if r is not None:
            return r
    return None


# ---------------------------------------------------------------- slots
def _characters(s: Session, result_id: int) -> list[Character]:
    return list(s.exec(select(Character).where(Character.result_id == result_id).order_by(Character.idx)))


def resolve_slot(chars: list[Character], given: str) -> str:
    """A slot from a slot name (`left`), an index (`0`) or a character name (`Lily`)."""
    g = str(given).strip()
    if not g:
        raise AnnotationError("empty character slot: give left/middle/right, an index or a name")
    low = g.lower()
    if not chars:
        if low in GENERIC_SLOTS or low.isdigit():
            return low
        raise AnnotationError(f"unknown slot {g!r}: this result lists no characters; use "
                              f"{'/'.join(GENERIC_SLOTS)} or an index")
    for c in chars:
        if c.slot.lower() == low:
            return c.slot
    if low.isdigit():
        for c in chars:
            if c.idx == int(low):
                return c.slot
    named = [c for c in chars if c.name and c.name.lower() == low]
    if len(named) == 1:
        return named[0].slot
    listing = ", ".join(f"{c.slot}" + (f" ({c.name})" if c.name else "") for c in chars)
    why = "is the name of several characters" if named else "matches no character"
    raise AnnotationError(f"{g!r} {why} of this result; its characters: {listing}")


# ---------------------------------------------------------------- the write path
def _apply(catalog: Any, result_ids: list[int],
           change_db: Callable[[Session, list[Result]], Any],
           change_sidecar: Callable[[dict[str, Any], Result], None]) -> Any:
    """Change the catalog, mirror into each sidecar, commit; undo everything on failure."""
    backups: list[tuple[Path, bytes | None]] = []
    with catalog.session() as s:
        results = []
        for rid in result_ids:
            r = s.get(Result, rid)
            if r is None:
                raise AnnotationError(f"no result with id {rid}")
            results.append(r)
        out = change_db(s, results)
        s.flush()
        path: Path | None = None
        try:
            for r in results:
                path = Path(r.sidecar_path) if r.sidecar_path else sidecar_path_for(r.path)
                backups.append((path, path.read_bytes() if path.exists() else None))
                update_sidecar(path, lambda d, r=r: change_sidecar(d, r))
                st = path.stat()
                r.sidecar_path, r.sidecar_size, r.sidecar_mtime_ns = str(path), st.st_size, st.st_mtime_ns
                s.add(r)
            s.commit()
        except (OSError, SidecarError) as e:
            s.rollback()
            _restore(backups)
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise SidecarWriteError(f"{path}: cannot write the sidecar ({why}); nothing was changed") from None
        except BaseException:
            s.rollback()
            _restore(backups)
            raise
    return out


def _restore(backups: list[tuple[Path, bytes | None]]) -> None:
    from gentui.catalog.sidecar import atomic_write_bytes

    for path, old in reversed(backups):
        try:
            if old is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write_bytes(path, old)
        except OSError:
            pass


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.isoformat(timespec="seconds")


def _entry(a: Annotation) -> dict[str, Any]:
    return {"id": a.id, "slot": a.slot, "feature": a.feature, "outcome": a.outcome, "target": a.target,
            "color": a.color, "note": a.note, "author": a.author, "created_at": _iso(a.created_at)}


# ---------------------------------------------------------------- annotations
def add_annotation(catalog: Any, result_id: int, slot: str, feature: str, outcome: str,
                   target: str | None = None, color: str | None = None, note: str | None = None,
                   author: str = "user") -> int:
    """Record `feature` of the character in `slot` as `outcome`; returns the annotation id."""
    outcome = (outcome or "").strip().lower()
    feature = (feature or "").strip()
    if outcome not in OUTCOMES:
        raise AnnotationError(f"unknown outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
    if not feature:
        raise AnnotationError("feature missing: e.g. side_ponytail, ahoge, scrunchie_color, hair_color")
    if outcome in TARGET_OUTCOMES and not (target and target.strip()):
        raise AnnotationError(f"{outcome} needs a target slot (--target): where the feature went")
    if outcome == "color_drift" and not (color and color.strip()):
        raise AnnotationError("color_drift needs the colour seen (--color orange)")
    with catalog.session() as s:
        if s.get(Result, result_id) is None:
            raise AnnotationError(f"no result with id {result_id}")
        chars = _characters(s, result_id)
    slot_r = resolve_slot(chars, slot)
    target_r = None
    if target and target.strip():
        target_r = ",".join(resolve_slot(chars, t) for t in target.split(",") if t.strip())
    row = Annotation(result_id=result_id, slot=slot_r, feature=feature, outcome=outcome, target=target_r,
                     color=color.strip() if color else None, note=note or None, author=author or "user")

    def db(s: Session, _results: list[Result]) -> Annotation:
        s.add(row)
        s.flush()
        return row

    def side(d: dict[str, Any], _r: Result) -> None:
        anns = d.get("annotations") if isinstance(d.get("annotations"), list) else []
        d["annotations"] = anns + [_entry(row)]

    _apply(catalog, [result_id], db, side)
    assert row.id is not None
    return row.id


def remove_annotation(catalog: Any, annotation_id: int) -> None:
    """Delete one annotation from the catalog and from its sidecar."""
    with catalog.session() as s:
        a = s.get(Annotation, annotation_id)
        if a is None:
            raise AnnotationError(f"no annotation with id {annotation_id}")
        gone, result_id = _entry(a), a.result_id

    def db(s: Session, _results: list[Result]) -> None:
        row = s.get(Annotation, annotation_id)
        if row is not None:
            s.delete(row)

    def side(d: dict[str, Any], _r: Result) -> None:
        anns = d.get("annotations")
        if not isinstance(anns, list):
            return
        keep = [x for x in anns if not (isinstance(x, dict) and x.get("id") == annotation_id)]
        if len(keep) == len(anns):  # ids differ after a rebuild: match on content
            fields = ("slot", "feature", "outcome", "target", "created_at")
            for i, x in enumerate(anns):
                if isinstance(x, dict) and all(x.get(f) == gone[f] for f in fields):
                    keep = anns[:i] + anns[i + 1:]
                    break
        d["annotations"] = keep

    _apply(catalog, [result_id], db, side)


# ---------------------------------------------------------------- tags and rating
def _check_tags(tags: Iterable[str]) -> list[str]:
    out = []
    for t in tags:
        t = str(t).strip()
        if not _TAG_RE.match(t):
            raise AnnotationError(f"bad tag {t!r}: one word, no spaces, commas or quotes, at most 64 characters")
        if t not in out:
            out.append(t)
    if not out:
        raise AnnotationError("no tags given")
    return out


def add_tags(catalog: Any, result_ids: Iterable[int], tags: Iterable[str]) -> None:
    """Add free tags (keeper, bleed, ...) to each result; existing tags stay."""
    ids, wanted = list(dict.fromkeys(result_ids)), _check_tags(tags)

    def db(s: Session, results: list[Result]) -> None:
        for r in results:
            have = set(s.exec(select(Tag.tag).where(Tag.result_id == r.id)))
            for t in wanted:
                if t not in have:
                    s.add(Tag(tag=t, result_id=r.id))

    def side(d: dict[str, Any], _r: Result) -> None:
        cur = [t for t in d.get("tags", []) if isinstance(t, str)] if isinstance(d.get("tags"), list) else []
        d["tags"] = sorted(set(cur) | set(wanted))

    _apply(catalog, ids, db, side)


def remove_tags(catalog: Any, result_ids: Iterable[int], tags: Iterable[str]) -> None:
    """Remove free tags from each result (absent tags are ignored)."""
    ids, gone = list(dict.fromkeys(result_ids)), _check_tags(tags)

    def db(s: Session, results: list[Result]) -> None:
        for r in results:
            for row in s.exec(select(Tag).where(Tag.result_id == r.id, Tag.tag.in_(gone))):  # type: ignore[attr-defined]
                s.delete(row)

    def side(d: dict[str, Any], _r: Result) -> None:
        if isinstance(d.get("tags"), list):
            d["tags"] = [t for t in d["tags"] if t not in gone]

    _apply(catalog, ids, db, side)


def set_rating(catalog: Any, result_id: int, rating: int | None) -> None:
    """Rate a result 0-5 (None clears the rating)."""
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int) or not 0 <= rating <= 5):
        raise AnnotationError(f"bad rating {rating!r}: a whole number from 0 to 5")

    def db(s: Session, results: list[Result]) -> None:
        for r in results:
            r.rating = rating
            s.add(r)

    def side(d: dict[str, Any], _r: Result) -> None:
        if rating is None:
            d.pop("rating", None)
        else:
            d["rating"] = rating

    _apply(catalog, [result_id], db, side)
