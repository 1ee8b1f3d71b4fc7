"""Everything the preview shows about one result, loaded in one go (from a thread).

The catalog gives the row, its characters, annotations and tags; the sidecar
gives what only it holds (the translation path). A missing or broken sidecar
is reported in the preview, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import select

from gentui.catalog.db import Catalog
from gentui.catalog.models import Annotation, Character, Result, Tag
from gentui.catalog.sidecar import SidecarError, read_sidecar


@dataclass
class ResultDetails:
    """A result with everything hanging off it."""

    result: Result
    characters: list[Character] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    sidecar: dict[str, Any] | None = None
    sidecar_error: str = ""
    thumb_path: str | None = None
    """The cached thumbnail if there is one, else the image itself."""
    extras: dict[str, Any] = field(default_factory=dict)
    """What `tui.widgets.readout.load_extras` adds (the colour readout)."""

    @property
    def id(self) -> int:
        return int(self.result.id or 0)

    def slot_names(self) -> list[tuple[str, str]]:
        """(slot, label) per character, in prompt order: `("left", "left Kanachan")`."""
        out = []
        for c in sorted(self.characters, key=lambda c: c.idx):
            label = c.slot or str(c.idx)
            if c.name:
                label += f" {c.name}"
            out.append((c.slot or str(c.idx), label))
        return out


def thumb_for(result: Result, thumbnail_dir: Path) -> str | None:
    """The thumbnail file of a result, falling back to the image."""
    if result.thumb:
        try:
            from gentui.catalog.thumbnails import thumbnail_path

            p = thumbnail_path(thumbnail_dir, result.thumb)
            if Path(p).exists():
                return str(p)
        except ImportError:
            pass
    return result.path if result.path and Path(result.path).exists() else None


def load_details(catalog: Catalog, result_id: int, thumbnail_dir: Path) -> ResultDetails | None:
    """Blocking: read one result and everything attached to it."""
    with catalog.session() as s:
        result = s.get(Result, result_id)
        if result is None:
            return None
        chars = list(s.exec(select(Character).where(Character.result_id == result_id)))
        anns = list(s.exec(select(Annotation).where(Annotation.result_id == result_id)
                           .order_by(Annotation.id)))
        tags = sorted(s.exec(select(Tag.tag).where(Tag.result_id == result_id)))
    details = ResultDetails(result, chars, anns, list(tags))
    if result.sidecar_path:
        try:
            details.sidecar = read_sidecar(result.sidecar_path)
        except SidecarError as e:
            details.sidecar_error = str(e)
    details.thumb_path = thumb_for(result, thumbnail_dir)
    return details


def translation_path(sidecar: dict[str, Any] | None, result: Result) -> str:
    """`gemma3:12b (llm-jp:4-8b-fixed: refusal)`, `skipped`, or `-`."""
    if result.skip_translate:
        return "skipped"
    info = (sidecar or {}).get("translation")
    model = result.translator_model
    rejected: list[str] = []
    if isinstance(info, dict):
        model = info.get("model") or model
        for r in info.get("rejected") or []:
            if isinstance(r, dict):
                rejected.append(f"{r.get('model', '?')}: {r.get('reason', '?')}")
        if info.get("cached"):
            model = f"{model} (cached)"
    if not model:
        return "-"
    return f"{model}" + (f"  rejected {'; '.join(rejected)}" if rejected else "")
