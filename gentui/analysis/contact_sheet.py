"""Contact sheets: a sweep as one labelled image grid (rows x columns of two axes).

Rows and columns are axes of the results (seed x weight by default). A cell
holds the newest result of its (row, column) pair; an empty cell is drawn grey
so a missing or failed job shows as a gap, not a shifted grid.
"""

from __future__ import annotations

from collections.abc import Sequence
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from gentui.analysis.axes import axis_label, axis_value, check_axis, ordered_values
from gentui.catalog.sidecar import atomic_write_bytes

BG = (24, 24, 28)
EMPTY = (60, 60, 66)
FG = (235, 235, 235)


@dataclass
class SheetInfo:
    path: Path
    rows: int
    cols: int
    cells: int
    missing: list[str]
    """Images that could not be read (path: reason)."""


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _open_cell(row: Any, cell: int) -> Image.Image:
    with Image.open(row.path) as im:
        im.draft("RGB", (cell, cell))
        im = im.convert("RGB")
        im.thumbnail((cell, cell), Image.Resampling.LANCZOS, reducing_gap=2.0)
        return im


def make_contact_sheet(results: Sequence[Any], out: str | Path, *, rows: str = "seed", cols: str = "weight",
                       cell: int = 256, title: str = "", labels: bool = True) -> SheetInfo:
    """Write a grid PNG (or JPEG/WebP by extension) of `results` to `out`."""
    rows, cols = check_axis(rows), check_axis(cols)
    if not results:
        raise ValueError("no results to put on a contact sheet")
    if cell < 32 or cell > 2048:
        raise ValueError(f"cell size {cell}: expected 32..2048 pixels")
    row_vals = ordered_values(list(results), rows)
    col_vals = ordered_values(list(results), cols)
    grid: dict[tuple, Any] = {}
    for r in results:  # results come newest first: keep the first one per cell
        grid.setdefault((axis_value(r, rows), axis_value(r, cols)), r)

    font = _font(max(12, cell // 14))
    pad = 6
    head_h = (cell // 8 + pad) if labels else 0
    head_w = (cell // 2 + pad) if labels else 0
    title_h = (cell // 7 + pad) if title else 0
    width = head_w + len(col_vals) * (cell + pad) + pad
    height = title_h + head_h + len(row_vals) * (cell + pad) + pad
    sheet = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, pad), title, fill=FG, font=font)
    if labels:
        draw.text((pad, title_h + pad), f"{rows} \\ {cols}", fill=FG, font=font)
        for j, cv in enumerate(col_vals):
            draw.text((head_w + pad + j * (cell + pad), title_h + pad), f"{cols} {axis_label(cols, cv)}", fill=FG, font=font)
        for i, rv in enumerate(row_vals):
            draw.text((pad, title_h + head_h + pad + i * (cell + pad) + cell // 2), axis_label(rows, rv), fill=FG, font=font)
    missing: list[str] = []
    for i, rv in enumerate(row_vals):
        for j, cv in enumerate(col_vals):
            x = head_w + pad + j * (cell + pad)
            y = title_h + head_h + pad + i * (cell + pad)
            r = grid.get((rv, cv))
            if r is None:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=EMPTY)
                continue
            try:
                im = _open_cell(r, cell)
            except (OSError, UnidentifiedImageError, ValueError) as e:
                missing.append(f"{r.path}: {e}")
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=EMPTY)
                continue
            sheet.paste(im, (x + (cell - im.width) // 2, y + (cell - im.height) // 2))
    out = Path(out)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(out.suffix.lower(), "PNG")
    buf = io.BytesIO()
    sheet.save(buf, format=fmt, **({"quality": 92} if fmt != "PNG" else {}))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    return SheetInfo(out, len(row_vals), len(col_vals), len(grid), missing)
