"""The preview under the table: the picture (or a zoomed character) and its facts.

It follows the table's cursor. Details load in a thread worker and are kept in
an LRU cache so that walking back over rows is instant; a change to a result
(annotation, tag) drops that result from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget

from gentui.catalog.annotations import describe_annotation
from gentui.catalog.db import Catalog
from gentui.catalog.sidecar import format_weight
from gentui.tui.data import images
from gentui.tui.data.details import ResultDetails, load_details, translation_path
from gentui.tui.widgets.readout import extras_text, load_extras
from gentui.tui.widgets.thumbnail import Thumbnail

SLOT_STYLE = "bold cyan"


def details_text(d: ResultDetails, zoom: int | None = None) -> Text:
    """The facts of a result as a few dense lines (fits 50 columns, wraps beyond)."""
    r = d.result
    t = Text()
    t.append(f"#{r.id} ", style="bold")
    t.append(f"{r.workflow or r.model or '?'} {r.width or '?'}x{r.height or '?'} "
             f"{r.steps or '?'} steps cfg {r.cfg if r.cfg is not None else '?'} "
             f"{r.sampler or '-'}/{r.scheduler or '-'}  seed {r.seed}\n")
    lora = f"LoRA {r.lora_name or '?'} @ {format_weight(r.lora_strength)}" if r.use_lora else "LoRA off"
    if r.use_speed_lora:
        lora += f", {r.speed_lora_name or 'speed'} @ {format_weight(r.speed_lora_strength)}"
    t.append(lora)
    t.append(f"   translated: {translation_path(d.sidecar, r)}\n", style="dim")
    meta = [f"{r.status}"]
    if r.layout:
        meta.append(r.layout)
    if r.variant:
        meta.append(r.variant)
    if r.sweep_name:
        meta.append(f"sweep {r.sweep_name}")
    if r.elapsed_s:
        meta.append(f"{r.elapsed_s:.1f} s")
    t.append("  ".join(meta), style="dim")
    if d.tags:
        t.append("  tags ", style="dim")
        t.append(" ".join(d.tags), style="bold yellow")
    if r.rating:
        t.append("  " + "*" * r.rating, style="yellow")
    t.append("\n")
    by_slot: dict[str, list[str]] = {}
    for a in d.annotations:
        by_slot.setdefault(a.slot, []).append(describe_annotation(a))
    shown = set()
    for i, c in enumerate(sorted(d.characters, key=lambda c: c.idx)):
        slot = c.slot or str(c.idx)
        shown.add(slot)
        mark = ">" if zoom == i else " "
        t.append(f"{mark}{i + 1} {slot:<6}", style=SLOT_STYLE)
        t.append(f" {c.name or '-'}")
        if c.has_trigger:
            t.append(" (trigger)", style="dim")
        if by_slot.get(slot):
            t.append("  " + "; ".join(by_slot[slot]), style="green")
        elif c.appearance:
            t.append("  " + c.appearance[:80], style="dim")
        t.append("\n")
    for slot, notes in by_slot.items():
        if slot not in shown:
            t.append(f"  {slot or 'image':<8}", style=SLOT_STYLE)
            t.append(" " + "; ".join(notes) + "\n", style="green")
    t.append_text(extras_text(d))
    prompt = r.prompt_src or r.prompt_en
    if prompt:
        t.append(" ".join(prompt.split())[:400] + "\n", style="dim italic")
    if d.sidecar_error:
        t.append(d.sidecar_error + "\n", style="red")
    t.append(r.path, style="dim")
    return t


class Facts(Widget):
    """The facts text. Rendered (clipped), never laid out again: moving the cursor
    repaints this widget alone instead of the whole screen."""

    DEFAULT_CSS = "Facts { width: 1fr; height: 1fr; padding: 0 1; }"

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.text: Text = Text("")

    def update(self, text: Text | str) -> None:
        self.text = text if isinstance(text, Text) else Text(text)
        self.refresh()

    def render(self) -> Text:
        return self.text


class Preview(Horizontal):
    """Thumbnail on the left, facts on the right; follows the results cursor."""

    DEFAULT_CSS = """
    Preview { height: 1fr; }
    Preview > Thumbnail { width: 34; }

    """

    @dataclass
    class Loaded(Message, bubble=False):
        result_id: int
        details: ResultDetails | None
        error: str = ""

    @dataclass
    class Shown(Message):
        """The preview now shows `result_id` (None: nothing)."""

        result_id: int | None

    def __init__(self, catalog: Catalog, thumbnail_dir: Path, protocol: str, *, id: str | None = None):
        super().__init__(id=id)
        self.catalog = catalog
        self.thumbnail_dir = thumbnail_dir
        self.protocol = protocol
        self.details: ResultDetails | None = None
        self.zoom: int | None = None
        """Index of the character whose region is shown (None: the whole image)."""
        self._want: int | None = None
        self._cache = images.LRU(512)
        self._settle_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Thumbnail(self.protocol, id="preview-image")
        yield Facts(id="preview-text")

    def show(self, row: Any, *, settle: float = 0.0) -> None:
        """Show the result `row` (anything with `.id`), or clear with None.

        With `settle`, wait that many seconds for a newer call first: a filter
        being typed changes the top row at every key, and loading and painting
        a preview for each would slow down the table the user is watching.
        """
        if self._settle_timer is not None:
            self._settle_timer.stop()
            self._settle_timer = None
        if settle > 0:
            self._settle_timer = self.set_timer(settle, lambda: self.show(row))
            return
        rid = getattr(row, "id", None)
        self._want = rid
        if rid is None:
            self.details = None
            self.query_one("#preview-text", Facts).update(Text("no result selected", style="dim"))
            self.query_one(Thumbnail).show(None, note="")
            self.post_message(self.Shown(None))
            return
        hit = self._cache.get(rid)
        if hit is not None:
            self._show_details(hit)
        else:
            self._load(rid)

    def forget(self, result_id: int) -> None:
        """Drop a cached result (it changed) and reload it if it is on screen."""
        self._cache.put(result_id, None)
        if self._want == result_id:
            self._load(result_id)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _load(self, result_id: int) -> None:
        try:
            d = load_details(self.catalog, result_id, self.thumbnail_dir)
            if d is not None:
                load_extras(d)
        except Exception as e:
            self.post_message(self.Loaded(result_id, None, str(e)))
            return
        self.post_message(self.Loaded(result_id, d))

    def on_preview_loaded(self, msg: Loaded) -> None:
        if msg.details is not None:
            self._cache.put(msg.result_id, msg.details)
        if msg.result_id != self._want:
            return
        if msg.details is None:
            self.query_one("#preview-text", Facts).update(
                Text(msg.error or f"result {msg.result_id} is gone", style="red"))
            return
        self._show_details(msg.details)

    def _show_details(self, d: ResultDetails) -> None:
        self.details = d
        n = max(1, len(d.characters))
        if self.zoom is not None and self.zoom >= n:
            self.zoom = None
        self.query_one("#preview-text", Facts).update(details_text(d, self.zoom))
        region = (self.zoom, n) if self.zoom is not None else None
        self.query_one(Thumbnail).show(d.thumb_path if region is None else (d.result.path or d.thumb_path),
                                       region, note="no image file")
        self.post_message(self.Shown(d.id))

    def set_zoom(self, index: int | None) -> None:
        """Zoom on character `index` (0-based; its third or half), or back to the whole image."""
        self.zoom = None if index is None or index == self.zoom else index
        if self.details is not None:
            self._show_details(self.details)
