"""Contact sheets: results as labelled image grids, like an X/Y/Z plot.

Any axis can be the rows, the columns and a third axis (`page`: one file per
value). A cell holds the newest result of its (row, column) pair; an empty cell
is drawn grey so a missing or failed job shows as a gap, not a shifted grid.
A legend lists the parameters every image shares; captions (`#id` and the
cell's values) and judgements (annotations, tags) are drawn when asked. A grid
larger than `max_size` pixels on a side is cut into tiles, each with its own
headers, so no file exceeds it.

`plan_sheets` is the layout (also used by the compare screen and the write-up);
`make_contact_sheet` draws and writes the files.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from gentui.analysis.axes import axis_label, axis_value, check_axis, fixed_and_varied, ordered_values
from gentui.catalog.sidecar import atomic_write_bytes

BG = (24, 24, 28)
EMPTY = (60, 60, 66)
FG = (235, 235, 235)
NOTE_BG = (0, 0, 0)
PAD = 6
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
DEFAULT_MAX_SIZE = 8192
LEGEND_VALUE = 160
"""Longest value (the prompt) the legend prints before cutting it short."""


class SheetError(ValueError):
    """A sheet that cannot be made or written; the message names the user's path."""


@dataclass
class SheetPage:
    """One page of a sheet: the rows x columns grid of one value of the page axis."""

    page_value: Any
    row_values: list[Any]
    col_values: list[Any]
    grid: dict[tuple, Any]
    """(row value, column value) -> the result shown in that cell."""


@dataclass
class SheetInfo:
    path: Path
    rows: int
    cols: int
    cells: int
    missing: list[str]
    """Images that could not be read (path: reason)."""
    paths: list[Path] = field(default_factory=list)
    """Every file written (several with a page axis or tiling)."""


def check_output(out: str | Path) -> Path:
    """The output path, if gentui can write an image there; SheetError says why not."""
    p = Path(out).expanduser()
    if p.suffix.lower() not in FORMATS:
        given = p.suffix or "no extension"
        raise SheetError(f"{out}: {given} is not an image format gentui writes; end the name in .png, .jpg or .webp")
    if not p.parent.is_dir():
        raise SheetError(f"{out}: the folder {p.parent} does not exist")
    return p


def plan_sheets(results: Sequence[Any], rows: str = "seed", cols: str = "weight",
                page: str | None = None) -> list[SheetPage]:
    """Pages (one per value of `page`, or one) of `results`, which come newest first."""
    rows, cols = check_axis(rows), check_axis(cols)
    if page is not None:
        check_axis(page)
    results = list(results)
    page_values = ordered_values(results, page) if page else [None]
    pages = []
    for pv in page_values:
        members = [r for r in results if page is None or axis_value(r, page) == pv]
        grid: dict[tuple, Any] = {}
        for r in members:  # newest first: keep the first one per cell
            grid.setdefault((axis_value(r, rows), axis_value(r, cols)), r)
        pages.append(SheetPage(pv, ordered_values(members, rows), ordered_values(members, cols), grid))
    return pages


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _open_cell(row: Any, cell: int) -> Image.Image:
    with Image.open(row.path) as im:
        im.draft("RGB", (cell, cell))
        im = im.convert("RGB")
        scale = cell / max(im.width, im.height)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0 if scale < 1 else None)


def _wrap(draw: ImageDraw.ImageDraw, text: str, fnt: Any, width: int) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            cand = f"{line} {word}".strip()
            if line and draw.textlength(cand, font=fnt) > width:
                lines.append(line)
                line = word
            else:
                line = cand
        lines.append(line)
    return lines


@dataclass
class Layout:
    """Where things go on one tile (pixels); shared by drawing and by the tests that read sheets back."""

    cell: int
    rows: int
    cols: int
    font_size: int
    title_h: int
    head_h: int
    head_w: int
    caption_h: int
    legend_h: int = 0

    @property
    def pitch_x(self) -> int:
        return self.cell + PAD

    @property
    def pitch_y(self) -> int:
        return self.cell + self.caption_h + PAD

    @property
    def width(self) -> int:
        return self.head_w + self.cols * self.pitch_x + PAD

    @property
    def grid_bottom(self) -> int:
        return self.title_h + self.head_h + self.rows * self.pitch_y + PAD

    @property
    def height(self) -> int:
        return self.grid_bottom + self.legend_h

    def cell_xy(self, i: int, j: int) -> tuple[int, int]:
        """Top-left corner of the cell in row i, column j."""
        return self.head_w + PAD + j * self.pitch_x, self.title_h + self.head_h + PAD + i * self.pitch_y

    def col_label_xy(self, j: int) -> tuple[int, int]:
        return self.head_w + PAD + j * self.pitch_x, self.title_h + PAD

    def row_label_xy(self, i: int) -> tuple[int, int]:
        return PAD, self.cell_xy(i, 0)[1] + self.cell // 2


def _layout(cell: int, rows: int, cols: int, *, title: bool, labels: bool, captions: bool) -> Layout:
    fs = max(12, cell // 14)
    return Layout(cell, rows, cols, fs, title_h=(cell // 7 + PAD) if title else 0,
                  head_h=(cell // 8 + PAD) if labels else 0, head_w=(cell // 2 + PAD) if labels else 0,
                  caption_h=(fs + 4) if captions else 0)


def _chunks(values: list[Any], n: int) -> list[list[Any]]:
    return [values[i : i + n] for i in range(0, len(values), n)] or [[]]


def make_contact_sheet(results: Sequence[Any], out: str | Path, *, rows: str = "seed", cols: str = "weight",
                       page: str | None = None, cell: int = 256, title: str = "", labels: bool = True,
                       captions: bool = False, notes: Mapping[int, list[str]] | None = None, legend: bool = True,
                       max_size: int = DEFAULT_MAX_SIZE) -> SheetInfo:
    """Write the grid(s) of `results` to `out` (PNG, JPEG or WebP by its extension).

    `notes` maps a result id to lines drawn on its cell (judgements or tags).
    With a `page` axis, or when the grid is larger than `max_size`, several files
    are written beside `out` (`NAME-layout_cluster.png`, `NAME-part2.png`).
    """
    out_path = check_output(out)
    if not results:
        raise SheetError("no results to put on a contact sheet")
    if cell < 32 or cell > 2048:
        raise SheetError(f"cell size {cell}: expected 32..2048 pixels")
    pages = plan_sheets(results, rows, cols, page)
    legend_text = _legend_text(results, rows, cols, page) if legend and labels else ""
    written: list[Path] = []
    missing: list[str] = []
    for pg in pages:
        base = _layout(cell, 1, 1, title=bool(title or page), labels=labels, captions=captions)
        fit_cols = (max_size - base.head_w - PAD) // base.pitch_x
        fit_rows = (max_size - base.title_h - base.head_h - PAD - 4 * base.font_size) // base.pitch_y
        if fit_cols < 1 or fit_rows < 1:
            raise SheetError(f"a {cell}-pixel cell does not fit in --max-size {max_size}; lower --cell")
        tiles = [(rv, cv) for rv in _chunks(pg.row_values, fit_rows) for cv in _chunks(pg.col_values, fit_cols)]
        for t, (rvals, cvals) in enumerate(tiles):
            heading = title
            if page:
                heading = f"{title}  {page} {axis_label(page, pg.page_value)}".strip()
            if len(tiles) > 1:
                heading = f"{heading}  (part {t + 1} of {len(tiles)})".strip()
            img = _draw(pg, rvals, cvals, rows, cols, cell, heading, labels, captions, notes or {}, legend_text,
                        missing)
            if max(img.size) > max_size:
                raise SheetError(f"the legend does not fit in --max-size {max_size}; raise it or add --no-legend")
            target = _tile_path(out_path, page, pg.page_value, t, len(tiles))
            _write(img, target, out)
            written.append(target)
    first = pages[0]
    cells = sum(len(p.grid) for p in pages)
    return SheetInfo(written[0], len(first.row_values), len(first.col_values), cells, missing, written)


def _legend_text(results: Sequence[Any], rows: str, cols: str, page: str | None) -> str:
    fixed, _varied = fixed_and_varied(list(results))
    shown = {rows, cols, page or ""}
    parts = []
    for label, value in fixed:
        if label == "prompt sent" or (label == "LoRA weight" and "weight" in shown) or label in shown:
            continue
        value = " ".join(value.split())  # a JSON prompt spans lines; the legend is one paragraph
        parts.append(f"{label} {value if len(value) <= LEGEND_VALUE else value[: LEGEND_VALUE - 3] + '...'}")
    axes = f"rows: {rows}   columns: {cols}" + (f"   pages: {page}" if page else "")
    return axes + ("\n" + " · ".join(parts) if parts else "")


def _tile_path(out: Path, page: str | None, value: Any, t: int, n: int) -> Path:
    stem = out.stem
    if page:
        safe = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in axis_label(page, value))
        stem += f"-{page}_{safe}"
    if n > 1:
        stem += f"-part{t + 1}"
    return out.with_name(stem + out.suffix)


def _write(img: Image.Image, target: Path, given: str | Path) -> None:
    fmt = FORMATS[target.suffix.lower()]
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 92} if fmt != "PNG" else {}))
    try:
        atomic_write_bytes(target, buf.getvalue())
    except OSError as e:
        where = target if target.name != Path(given).name else given
        raise SheetError(f"{where}: cannot write: {e.strerror or e}") from None


def _draw(pg: SheetPage, rvals: list[Any], cvals: list[Any], rows: str, cols: str, cell: int, title: str,
          labels: bool, captions: bool, notes: Mapping[int, list[str]], legend_text: str,
          missing: list[str]) -> Image.Image:
    lay = _layout(cell, len(rvals), len(cvals), title=bool(title), labels=labels, captions=captions)
    fnt = font(lay.font_size)
    small = font(max(10, lay.font_size - 2))
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    legend_lines = _wrap(scratch, legend_text, small, lay.width - 2 * PAD) if legend_text else []
    lay.legend_h = (len(legend_lines) * (lay.font_size + 2) + PAD) if legend_lines else 0
    sheet = Image.new("RGB", (lay.width, lay.height), BG)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((PAD, PAD), title, fill=FG, font=fnt)
    if labels:
        draw.text((PAD, lay.title_h + PAD), f"{rows} \\ {cols}", fill=FG, font=fnt)
        for j, cv in enumerate(cvals):
            draw.text(lay.col_label_xy(j), f"{cols} {axis_label(cols, cv)}", fill=FG, font=fnt)
        for i, rv in enumerate(rvals):
            draw.text(lay.row_label_xy(i), axis_label(rows, rv), fill=FG, font=fnt)
    for i, rv in enumerate(rvals):
        for j, cv in enumerate(cvals):
            x, y = lay.cell_xy(i, j)
            r = pg.grid.get((rv, cv))
            if r is None:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=EMPTY)
                continue
            try:
                im = _open_cell(r, cell)
            except (OSError, UnidentifiedImageError, ValueError) as e:
                missing.append(f"{r.path}: {e}")
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=EMPTY)
            else:
                sheet.paste(im, (x + (cell - im.width) // 2, y + (cell - im.height) // 2))
            if captions:
                text = f"#{r.id}" + (f"  {rows} {axis_label(rows, rv)}  {cols} {axis_label(cols, cv)}"
                                     if labels else "")
                draw.text((x, y + cell + 2), text, fill=FG, font=small)
            lines = notes.get(r.id) or []
            if lines:
                _draw_notes(sheet, lines, x, y, cell, small, lay.font_size)
    for k, line in enumerate(legend_lines):
        draw.text((PAD, lay.grid_bottom + k * (lay.font_size + 2)), line, fill=FG, font=small)
    return sheet


def _draw_notes(sheet: Image.Image, lines: list[str], x: int, y: int, cell: int, fnt: Any, size: int) -> None:
    """Judgements in a dark band over the bottom of the cell, as many lines as fit in half of it."""
    draw = ImageDraw.Draw(sheet)
    wrapped: list[str] = []
    for line in lines:
        wrapped += _wrap(draw, line, fnt, cell - 4)
    step = size + 1
    keep = wrapped[: max(1, (cell // 2) // step)]
    if len(keep) < len(wrapped):
        keep[-1] = keep[-1][: max(0, len(keep[-1]) - 3)] + "..."
    top = y + cell - len(keep) * step - 2
    band = Image.new("RGB", (cell, y + cell - top), NOTE_BG)
    sheet.paste(Image.blend(sheet.crop((x, top, x + cell, y + cell)), band, 0.7), (x, top))
    for k, line in enumerate(keep):
        draw.text((x + 2, top + 1 + k * step), line, fill=FG, font=fnt)
