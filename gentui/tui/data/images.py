"""Thumbnails for the terminal: decode, crop (zoom), scale and render off the UI thread.

textual-image picks the terminal's graphics protocol when it is imported
(`launch.prepare_images` does that before the app starts). Half-blocks are
rendered here, in a thread, into ready-made strips that the widget only copies
to the screen; Kitty and Sixel get a decoded, cropped PIL image for
textual-image's own widgets.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from rich.console import Console
from textual.strip import Strip

HALFBLOCK = "halfblock"
KITTY = "kitty"
SIXEL = "sixel"

_forced: str | None = None


def force_protocol(protocol: str | None) -> None:
    """Pin the protocol (tests force half-blocks: detection depends on the TTY)."""
    global _forced
    _forced = protocol


def resolve_protocol(setting: str = "auto") -> str:
    """`auto` becomes what textual-image detected; half-blocks when it found nothing better."""
    if _forced:
        return _forced
    if setting in (HALFBLOCK, KITTY, SIXEL):
        return setting
    try:
        from textual_image.renderable import Image as Detected
        from textual_image.renderable.sixel import Image as Sixel
        from textual_image.renderable.tgp import Image as TGP
    except Exception:  # detection failed (0-column pty, closed stdout): half-blocks always work
        return HALFBLOCK
    if Detected is TGP:
        return KITTY
    if Detected is Sixel:
        return SIXEL
    return HALFBLOCK


def region_box(size: tuple[int, int], region: tuple[int, int] | None) -> tuple[int, int, int, int] | None:
    """Pixel box of part `i` of `n` equal vertical strips (a character's third), or None."""
    if not region:
        return None
    i, n = region
    w, h = size
    left = int(w * i / n)
    right = int(w * (i + 1) / n)
    return (left, 0, max(left + 1, right), h)


def load_image(path: str | Path, region: tuple[int, int] | None = None) -> PILImage.Image:
    """Decode `path` to RGB, cropped to `region` (index, parts) when zooming."""
    with PILImage.open(path) as im:
        im.load()
        box = region_box(im.size, region)
        out = im.crop(box) if box else im.copy()
    return out.convert("RGB")


def fit_cells(img_size: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """Cells (w, h) that hold the image at its aspect ratio (a cell is 1 px wide, 2 px tall)."""
    iw, ih = img_size
    if iw <= 0 or ih <= 0 or width <= 0 or height <= 0:
        return (0, 0)
    scale = min(width / iw, (height * 2) / ih)
    return (max(1, int(iw * scale)), max(1, int(ih * scale / 2)))


def render_halfblocks(img: PILImage.Image, width: int, height: int) -> list[Strip]:
    """Render through textual-image's half-cell renderable into strips (call from a thread)."""
    from textual_image.renderable.halfcell import Image as Halfcell

    cw, ch = fit_cells(img.size, width, height)
    if not cw or not ch:
        return []
    small = img.resize((cw, ch * 2), PILImage.Resampling.BILINEAR)
    console = Console(width=cw, height=ch, color_system="truecolor", file=io.StringIO(),
                      legacy_windows=False, force_terminal=True)
    options = console.options.update(width=cw, height=ch)
    lines = console.render_lines(Halfcell(small, width=cw, height=ch), options, pad=False)
    return [Strip(line, cw) for line in lines[:ch]]


class LRU:
    """A small thread-safe LRU map (thumbnails are decoded in several threads)."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            return None

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


STRIPS = LRU(256)
"""(path, region, width, height) -> rendered half-block strips."""
PICTURES = LRU(32)
"""(path, region) -> decoded PIL image, for Kitty/Sixel."""


def halfblock_strips(path: str, region: tuple[int, int] | None, width: int, height: int) -> list[Strip]:
    """Cached half-block rendering of `path` (blocking: call from a thread)."""
    key = (path, region, width, height)
    hit = STRIPS.get(key)
    if hit is not None:
        return hit
    strips = render_halfblocks(load_image(path, region), width, height)
    STRIPS.put(key, strips)
    return strips


def picture(path: str, region: tuple[int, int] | None) -> PILImage.Image:
    """Cached decoded picture (blocking: call from a thread)."""
    key = (path, region)
    hit = PICTURES.get(key)
    if hit is None:
        hit = load_image(path, region)
        PICTURES.put(key, hit)
    return hit
