"""The JSON sidecar beside every image: read, normalise, and write it atomically.

The sidecar is the truth; the catalog is an index of it. Keys written by the
seed's genserver keep their names and meanings (`model seed width height steps
cfg use_lora lora_strength use_speed_lora skip_translate prompt_en elapsed_s`,
with `cfg_scale` and `text_ja` read as `cfg` and `prompt_src`). gentui adds the
Result fields plus `characters`, `workflow_api`, `translation`, `annotations`,
`tags` and `gentui_version`. Keys gentui does not know are kept verbatim when it
rewrites a sidecar.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gentui.params import format_weight, normalize_weight  # noqa: F401  (re-exported; gentui.params owns them)

SLOTS_BY_KEY = {"left_character": "left", "middle_character": "middle", "right_character": "right",
                "front_character": "front", "back_character": "back", "center_character": "middle"}
SLOT_ORDER = ["left", "middle", "right", "front", "back"]
ALIASES = {"cfg_scale": "cfg", "text_ja": "prompt_src"}
MAX_SIDECAR_BYTES = 64 * 1024 * 1024


class SidecarError(Exception):
    """A sidecar that cannot be used; the message names the file and the problem."""


@dataclass
class CharacterInfo:
    idx: int
    slot: str
    name: str | None = None
    identity: str | None = None
    lora_trigger: str | None = None
    position: str | None = None
    appearance: str | None = None
    has_trigger: bool = False


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v if x is not None)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_text(x)}" for k, x in v.items())
    return str(v)


_CHAR_FIELDS = ("name", "identity", "lora_trigger", "position", "appearance")


def _character(idx: int, slot: str, raw: Any) -> CharacterInfo:
    if isinstance(raw, str):
        return CharacterInfo(idx=idx, slot=slot, appearance=raw)
    if not isinstance(raw, dict):
        return CharacterInfo(idx=idx, slot=slot, appearance=_text(raw))
    c = CharacterInfo(idx=idx, slot=str(raw.get("slot") or slot))
    for f in _CHAR_FIELDS:
        setattr(c, f, _text(raw.get(f)))
    if c.identity is None:
        c.identity = _text(raw.get("description") or raw.get("character"))
    if c.appearance is None:
        rest = {k: v for k, v in raw.items() if k not in _CHAR_FIELDS and k not in ("slot", "description", "character", "has_trigger")}
        c.appearance = _text(rest) if rest else None
    if c.position is None and slot not in (str(idx),):
        c.position = slot
    if isinstance(raw.get("has_trigger"), bool):
        c.has_trigger = raw["has_trigger"]
    else:
        c.has_trigger = bool(c.lora_trigger)
    return c


def characters_from_prompt(prompt: Any) -> list[CharacterInfo]:
    """Characters of a JSON prompt (`left_character`... or a `characters` list); [] otherwise."""
    obj = prompt
    if isinstance(prompt, str):
        s = prompt.strip()
        if not s.startswith("{"):
            return []
        try:
            obj = json.loads(s)
        except (ValueError, RecursionError):
            return []
    if not isinstance(obj, dict):
        return []
    out: list[CharacterInfo] = []
    chars = obj.get("characters")
    if isinstance(chars, list):
        for i, raw in enumerate(chars):
            slot = raw.get("slot") or raw.get("position") if isinstance(raw, dict) else None
            out.append(_character(i, str(slot) if isinstance(slot, str) and slot else str(i), raw))
        return out
    keyed = [(SLOTS_BY_KEY[k], v) for k, v in obj.items() if k in SLOTS_BY_KEY]
    keyed.sort(key=lambda kv: SLOT_ORDER.index(kv[0]))
    return [_character(i, slot, raw) for i, (slot, raw) in enumerate(keyed)]


def characters_from_sidecar(data: dict[str, Any]) -> list[CharacterInfo]:
    """The sidecar's own `characters` list wins; else read them from the JSON prompt."""
    chars = data.get("characters")
    if isinstance(chars, list) and chars:
        out = []
        for i, raw in enumerate(chars):
            slot = raw.get("slot") if isinstance(raw, dict) else None
            out.append(_character(i, str(slot) if slot else str(i), raw))
        return out
    for key in ("prompt_en", "prompt_src", "prompt"):
        found = characters_from_prompt(data.get(key))
        if found:
            return found
    return []


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read a sidecar as a JSON object; SidecarError says what is wrong."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            raise SidecarError(f"{p}: sidecar is {size} bytes, larger than the {MAX_SIDECAR_BYTES} byte limit")
        raw = p.read_bytes()
    except OSError as e:
        raise SidecarError(f"{p}: cannot read: {e.strerror or e}") from None
    return parse_sidecar(raw, str(p))


def parse_sidecar(raw: bytes | str, where: str = "<sidecar>") -> dict[str, Any]:
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as e:
        raise SidecarError(f"{where}: not UTF-8 (byte {e.start})") from None
    if not text.strip():
        raise SidecarError(f"{where}: empty file, expected a JSON object")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SidecarError(f"{where}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except (RecursionError, ValueError) as e:
        raise SidecarError(f"{where}: invalid JSON: {e}") from None
    if not isinstance(data, dict):
        raise SidecarError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def write_sidecar(path: str | Path, data: dict[str, Any]) -> None:
    """Write atomically: a temp file in the same folder, fsync, then rename over."""
    atomic_write_bytes(Path(path), (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def update_sidecar(path: str | Path, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read, change and rewrite a sidecar, keeping every key `mutate` leaves alone."""
    p = Path(path)
    data = read_sidecar(p) if p.exists() else {}
    mutate(data)
    write_sidecar(p, data)
    return data


def _file_mode() -> int:
    """rw for whom the user's umask allows (mkstemp alone would make every file 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """No reader ever sees half a file: write a temp file beside it and rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def sidecar_path_for(image: str | Path) -> Path:
    return Path(image).with_suffix(".json")


@dataclass
class NormalizedSidecar:
    """A sidecar mapped onto catalog fields (aliases resolved, types checked)."""

    fields: dict[str, Any] = field(default_factory=dict)
    characters: list[CharacterInfo] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Values of the wrong type that were ignored, for the import report."""
