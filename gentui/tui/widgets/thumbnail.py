"""A picture in the terminal: half-blocks everywhere, Kitty or Sixel where they work.

Decoding, cropping and half-block rendering run in a thread worker and are
cached (`data/images.py`); the UI thread only copies finished strips to the
screen, so moving the cursor over cached thumbnails costs almost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from textual import work
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from gentui.tui.data import images


class _Strips(Widget):
    """Shows pre-rendered half-block strips, centred."""

    DEFAULT_CSS = "_Strips { width: 1fr; height: 1fr; }"

    def __init__(self) -> None:
        super().__init__()
        self.strips: list[Strip] = []
        self.note = ""

    def set_strips(self, strips: list[Strip], note: str = "") -> None:
        self.strips = strips
        self.note = note
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.rich_style
        if not self.strips:
            text = self.note if y == self.size.height // 2 else ""
            pad = max(0, (width - len(text)) // 2)
            return Strip([Segment(" " * pad + text, style)]).adjust_cell_length(width, style)
        top = max(0, (self.size.height - len(self.strips)) // 2)
        i = y - top
        if 0 <= i < len(self.strips):
            strip = self.strips[i]
            left = max(0, (width - strip.cell_length) // 2)
            return Strip.join([Strip.blank(left, style), strip]).adjust_cell_length(width, style)
        return Strip.blank(width, style)


class Thumbnail(Container):
    """An image (or one character's region of it) scaled into the widget."""

    DEFAULT_CSS = """
    Thumbnail { width: 1fr; height: 1fr; }
    Thumbnail > * { width: 1fr; height: 1fr; }
    """

    @dataclass
    class Rendered(Message, bubble=False):
        key: tuple
        strips: list[Strip] | None
        picture: Any = None
        error: str = ""

    def __init__(self, protocol: str = images.HALFBLOCK, *, id: str | None = None,
                 classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.protocol = protocol
        self.path: str | None = None
        self.zoom_region: tuple[int, int] | None = None
        self._key: tuple | None = None
        self.rendered_key: tuple | None = None
        """Key of what is on screen now (tests and the bench wait for it)."""

    def compose(self) -> ComposeResult:
        if self.protocol == images.HALFBLOCK:
            yield _Strips()
        else:
            from textual_image.widget import SixelImage, TGPImage

            cls = TGPImage if self.protocol == images.KITTY else SixelImage
            yield cls()

    def show(self, path: str | None, region: tuple[int, int] | None = None, note: str = "") -> None:
        """Show `path` (None clears), zoomed on `region` = (index, parts) if given."""
        self.path, self.zoom_region = path, region
        if not path:
            self._key = None
            self._clear(note or "no image")
            return
        size = self.content_size
        if not size.width or not size.height:
            self._key = None
            return  # not laid out yet: on_resize shows it
        key = (path, region, size.width, size.height)
        if key == self._key:
            return
        self._key = key
        if self.protocol == images.HALFBLOCK:
            hit = images.STRIPS.get(key)
            if hit is not None:
                self._apply(key, hit, None)
                return
        self._render_image(key)

    def on_resize(self) -> None:
        if self.path:
            self._key = None
            self.show(self.path, self.zoom_region)

    def _clear(self, note: str) -> None:
        child = self.children[0] if self.children else None
        if isinstance(child, _Strips):
            child.set_strips([], note)
        elif child is not None:
            child.image = None  # type: ignore[attr-defined]
        self.rendered_key = None

    @work(thread=True, exclusive=True, group="thumbnail", exit_on_error=False)
    def _render_image(self, key: tuple) -> None:
        path, region, width, height = key
        try:
            if self.protocol == images.HALFBLOCK:
                strips = images.halfblock_strips(path, region, width, height)
                self.post_message(self.Rendered(key, strips))
            else:
                self.post_message(self.Rendered(key, None, images.picture(path, region)))
        except Exception as e:  # a missing or broken image is shown, not raised
            self.post_message(self.Rendered(key, None, None, f"cannot show image: {e}"))

    def on_thumbnail_rendered(self, msg: Rendered) -> None:
        if msg.key != self._key:
            return
        if msg.error:
            self._clear(msg.error)
            return
        self._apply(msg.key, msg.strips, msg.picture)

    def _apply(self, key: tuple, strips: list[Strip] | None, picture: Any) -> None:
        child = self.children[0] if self.children else None
        if isinstance(child, _Strips):
            child.set_strips(strips or [])
        elif child is not None:
            child.image = picture  # type: ignore[attr-defined]
        self.rendered_key = key
