"""A sidecar dict -> the catalog's columns, characters, annotations, tags and field index.

The sidecar is the truth and may come from anywhere: the seed's genserver,
gentui's queue, a hand edit, a ComfyUI PNG or mflux metadata turned into a
sidecar-shaped dict. So nothing here trusts a type: a value of the wrong type is
reported in `problems` and left out of its column (the rest of the sidecar is
still indexed), and the only exception that escapes is `SidecarError`.

Field index (`field_value` rows): every scalar leaf becomes one row keyed by its
dotted path, list items by their 0-based index (`characters.0.name`,
`extra.sampler_eta`, `workflow_api.3.inputs.seed`). Numbers go into `num`
(rounded to 12 significant digits, so 0.6000000000000001 is 0.6) and `text`;
booleans are 1/0 and 'true'/'false'; strings are text only, cut to
`MAX_FIELD_TEXT` characters; nulls and empty containers are skipped. At most
`MAX_FIELD_LEAVES` leaves are kept per sidecar, and the bulky subtrees
(`workflow_api`, `translation`, `annotations`) come last, so a big graph can
never push the sidecar's own keys out of the index.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from gentui.catalog.sidecar import (
    CharacterInfo,
    NormalizedSidecar,
    SidecarError,
    characters_from_prompt,
    characters_from_sidecar,
)
from gentui.params import COLUMNS as PARAM_COLUMNS
from gentui.params import LEGACY_LORA_KEYS, JobParams, clean_text, coerce, kind_of

MAX_FIELD_LEAVES = 400
MAX_FIELD_TEXT = 1000
MAX_DEPTH = 32
LATE_KEYS = ("annotations", "translation", "workflow_api")
SQLITE_INT_MAX = 2**63 - 1

# What a result says about how it went (not what it was asked to make: that is
# `JobParams`, which owns the parameter keys and their columns). key -> (type, aliases)
OUTCOME_KEYS: dict[str, tuple[type, tuple[str, ...]]] = {
    "n_characters": (int, ()), "sweep_id": (int, ()), "job_id": (int, ()), "rating": (int, ()),
    "elapsed_s": (float, ("generation_time_seconds", "generation_time")), "named": (bool, ()),
    "translator_model": (str, ()), "sweep_name": (str, ()), "backend_prompt_id": (str, ("prompt_id",)),
    "status": (str, ()),
}
LORA_KEYS = ("loras", *LEGACY_LORA_KEYS)
RESULT_COLUMNS = tuple(dict.fromkeys((*PARAM_COLUMNS, *OUTCOME_KEYS, "created_at")))


class IndexedSidecar(NormalizedSidecar):
    """A NormalizedSidecar plus its flattened leaves `(key, num, text)` for `field_value`."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, float | None, str | None]] = []


def _short_number(v: float) -> float:
    """0.6000000000000001 -> 0.6: 12 significant digits is what anyone typed."""
    return float(f"{v:.12g}")


def parse_timestamp(v: Any) -> datetime | None:
    """ISO 8601 text or epoch seconds/milliseconds -> aware UTC datetime; None if unusable.

    A time without a zone (mflux writes `datetime.now().isoformat()`) is taken as
    local time, which is what its writer meant.
    """
    try:
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, float)):
            x = float(v)
            if not math.isfinite(x) or x <= 0:
                return None
            if x > 1e11:
                x /= 1000.0
            return datetime.fromtimestamp(x, UTC)
        if isinstance(v, str) and 8 <= len(v) <= 64:
            dt = datetime.fromisoformat(v.strip())
            if dt.tzinfo is None:
                dt = dt.astimezone()
            return dt.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _column_values(data: dict[str, Any], out: IndexedSidecar) -> None:
    params, problems = JobParams.from_sidecar(data)
    out.problems += problems
    f = out.fields
    columns = params.columns()
    f.update({k: v for k, v in columns.items() if v is not None})
    if any(data.get(k) is not None for k in LORA_KEYS):
        f.update({k: columns[k] for k in LEGACY_LORA_KEYS})  # said: "off" means no name and no weight
    else:
        for k in ("use_lora", "use_speed_lora"):  # the sidecar does not say: unknown, not "off"
            f.pop(k, None)
    f.pop("n_characters", None)  # counted from the characters below (the prompt JSON too)
    f.pop("named", None)
    for key, (kind, aliases) in OUTCOME_KEYS.items():
        v, name, alias = data.get(key), key, False
        if v is None:
            name, v = next(((a, data[a]) for a in aliases if data.get(a) is not None), (key, None))
            alias = v is not None
        if v is None:
            continue
        try:
            if key == "elapsed_s" and isinstance(v, str):
                f[key] = coerce(float, v.strip().split()[0]) if v.strip() else None
            else:
                f[key] = coerce(kind, v, key)
        except (TypeError, ValueError, IndexError) as e:
            if not alias:
                out.problems.append(f"{name}: expected {_expected(kind)}, got {e}; ignored")
    if params.variant in ("named", "unnamed") and data.get("named") is None:
        f["named"] = params.named


def _expected(kind: type) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}[kind]


def _extras(data: dict[str, Any], out: IndexedSidecar) -> None:
    f = out.fields
    tr = data.get("translation")
    if f.get("translator_model") is None and isinstance(tr, dict) and isinstance(tr.get("model"), str):
        f["translator_model"] = clean_text(tr["model"])
    sweep = data.get("sweep")
    if isinstance(sweep, str) and "sweep_name" not in f:
        f["sweep_name"] = clean_text(sweep)
    elif isinstance(sweep, int) and not isinstance(sweep, bool) and "sweep_id" not in f and abs(sweep) <= SQLITE_INT_MAX:
        f["sweep_id"] = sweep
    elif isinstance(sweep, dict):
        if isinstance(sweep.get("name"), str) and "sweep_name" not in f:
            f["sweep_name"] = clean_text(sweep["name"])
        sid = sweep.get("id")
        if isinstance(sid, int) and not isinstance(sid, bool) and "sweep_id" not in f and abs(sid) <= SQLITE_INT_MAX:
            f["sweep_id"] = sid
    if "created_at" in data:
        ts = parse_timestamp(data["created_at"])
        if ts is None:
            out.problems.append(f"created_at: expected an ISO 8601 time or epoch seconds, got {kind_of(data['created_at'])}; ignored")
        else:
            f["created_at"] = ts


def _prompt_object(data: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("prompt_en", "prompt_src", "prompt"):
        v = data.get(key)
        if isinstance(v, dict):
            return v
        if isinstance(v, str) and v.lstrip().startswith("{"):
            try:
                obj = json.loads(v)
            except (ValueError, RecursionError):
                continue
            if isinstance(obj, dict):
                return obj
    return None


def _characters(data: dict[str, Any], out: IndexedSidecar) -> None:
    obj = _prompt_object(data)  # parsed once: the prompt JSON gives characters and layout
    chars: list[CharacterInfo] = []
    if isinstance(data.get("characters"), list) and data["characters"]:
        chars = characters_from_sidecar(data)
    elif obj is not None:
        chars = characters_from_prompt(obj)
    out.characters = [_clean_character(c) for c in chars]
    f = out.fields
    if "n_characters" not in f and out.characters:
        f["n_characters"] = len(out.characters)
    if "named" not in f and out.characters:
        f["named"] = all(bool(c.name and c.name.strip()) for c in out.characters)
    if "layout" not in f and obj is not None:
        lay = obj.get("layout")
        if isinstance(lay, str) and lay:
            f["layout"] = clean_text(lay)


def _clean_character(c: CharacterInfo) -> CharacterInfo:
    for name in ("slot", "name", "identity", "lora_trigger", "position", "appearance"):
        v = getattr(c, name)
        if isinstance(v, str):
            setattr(c, name, clean_text(v))
    return c


ANNOTATION_TEXT = ("slot", "feature", "outcome", "target", "color", "note", "author")


def _annotations(data: dict[str, Any], out: IndexedSidecar) -> None:
    raw = data.get("annotations")
    if raw is None:
        return
    if not isinstance(raw, list):
        out.problems.append(f"annotations: expected a list of objects, got {kind_of(raw)}; ignored")
        return
    for i, a in enumerate(raw):
        if not isinstance(a, dict):
            out.problems.append(f"annotations.{i}: expected an object, got {kind_of(a)}; ignored")
            continue
        ann: dict[str, Any] = {}
        for k in ANNOTATION_TEXT:
            v = a.get(k)
            if isinstance(v, list) and k == "target":
                v = ",".join(str(x) for x in v if isinstance(x, (str, int)) and not isinstance(x, bool))
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = str(v)
            ann[k] = clean_text(v) if isinstance(v, str) else None
        if not ann["feature"] and not ann["outcome"]:
            out.problems.append(f"annotations.{i}: has neither feature nor outcome; ignored")
            continue
        ann["slot"] = ann["slot"] or ""
        ann["feature"] = ann["feature"] or ""
        ann["outcome"] = ann["outcome"] or ""
        ann["author"] = ann["author"] or "user"
        ann["created_at"] = parse_timestamp(a.get("created_at"))
        out.annotations.append(ann)


def _tags(data: dict[str, Any], out: IndexedSidecar) -> None:
    raw = data.get("tags")
    if raw is None:
        return
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list):
        out.problems.append(f"tags: expected a list of text, got {kind_of(raw)}; ignored")
        return
    seen: set[str] = set()
    for t in raw:
        if not isinstance(t, str):
            out.problems.append(f"tags: {kind_of(t)} is not a tag; ignored")
            continue
        t = clean_text(t.strip())
        if t and t not in seen:
            seen.add(t)
            out.tags.append(t)


def _walk(path: str, v: Any, depth: int, out: list[tuple[str, float | None, str | None]], cap: int) -> None:
    if len(out) >= cap:
        return
    t = type(v)
    if t is str:
        out.append((path, None, clean_text(v[:MAX_FIELD_TEXT])))
    elif t is dict:
        if depth < MAX_DEPTH:
            for k, x in v.items():
                _walk(f"{path}.{clean_text(str(k))}", x, depth + 1, out, cap)
    elif t is list or t is tuple:
        if depth < MAX_DEPTH:
            for i, x in enumerate(v):
                _walk(f"{path}.{i}", x, depth + 1, out, cap)
    elif t is bool:
        out.append((path, 1.0 if v else 0.0, "true" if v else "false"))
    elif t is int:
        try:
            out.append((path, float(v), str(v)))
        except (OverflowError, ValueError):
            out.append((path, None, None))
    elif t is float:
        if not math.isfinite(v):
            out.append((path, None, repr(v)))
        else:
            s = _short_number(v)
            out.append((path, s, str(int(s)) if s.is_integer() and abs(s) < 1e15 else repr(s)))
    elif v is not None:
        out.append((path, None, clean_text(str(v)[:MAX_FIELD_TEXT])))


def flatten(data: dict[str, Any], cap: int = MAX_FIELD_LEAVES) -> list[tuple[str, float | None, str | None]]:
    """Scalar leaves of a sidecar as `(dotted.path, num, text)`, bulky subtrees last, at most `cap`."""
    out: list[tuple[str, float | None, str | None]] = []
    for k, v in data.items():
        if k not in LATE_KEYS:
            _walk(clean_text(str(k)), v, 0, out, cap)
    for k in LATE_KEYS:
        if k in data:
            _walk(k, data[k], 0, out, cap)
    return out


def _character_leaves(c: CharacterInfo) -> dict[str, Any]:
    d = {"slot": c.slot, "name": c.name, "identity": c.identity, "lora_trigger": c.lora_trigger,
         "appearance": c.appearance}
    if c.position and c.position != c.slot:
        d["position"] = c.position
    return {k: v for k, v in d.items() if v is not None}


def normalize_sidecar(data: Any, where: str = "<sidecar>") -> IndexedSidecar:
    """Map one sidecar onto catalog fields; wrong types land in `.problems`, never raise.

    Raises:
        SidecarError: `data` is not a JSON object, or is too deeply nested to read.
    """
    if not isinstance(data, dict):
        raise SidecarError(f"{where}: expected a JSON object, got {kind_of(data)}")
    out = IndexedSidecar()
    try:
        _column_values(data, out)
        _extras(data, out)
        _characters(data, out)
        _annotations(data, out)
        _tags(data, out)
        view = data
        if out.characters and not isinstance(data.get("characters"), list):
            # Characters read from a JSON prompt are indexed as if the sidecar listed them.
            view = dict(data)
            view["characters"] = [_character_leaves(c) for c in out.characters]
        out.values = flatten(view)
    except RecursionError:
        raise SidecarError(f"{where}: nested too deeply to read") from None
    return out
