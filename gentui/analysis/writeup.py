"""The write-up document: what a blog post about a sweep starts from.

One Markdown (or self-contained HTML) file holding the fixed parameters, the
contact sheet, the per-weight table of what each character kept and what bled
onto it, the bleed rates with their intervals, the operating line, and one
image per cell with its caption and judgements. Images are copied into a
folder beside the document (or linked where they are) with relative paths, so
the folder can be moved, zipped or pushed as it is; HTML without an images
folder embeds them, one file to copy off a GPU box over SSH.

The document is built once as a list of blocks and rendered to either format.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gentui
from gentui.analysis.axes import axis_label, axis_value, fixed_and_varied, ordered_values
from gentui.analysis.contact_sheet import make_contact_sheet, plan_sheets
from gentui.analysis.rates import AxisRates, OperatingLine, describe_group, format_interval, operating_lines, rates_by
from gentui.analysis.report import cell_notes, grouped_table, load_judgements
from gentui.analysis.tables import RENDERERS, Table, md_cell
from gentui.catalog.annotations import describe_annotation
from gentui.catalog.db import Catalog
from gentui.catalog.sidecar import atomic_write_bytes

LONG_PARAMETERS = ("prompt", "prompt sent", "negative")
PAGE_AXES = ("layout", "variant", "named", "chars", "lora", "workflow")
"""Axes that, when they vary, split the contact sheet into pages so no cell hides an image."""


# ---------------------------------------------------------------- rates and the line as tables
def rates_table(r: AxisRates) -> Table:
    headers = [r.axis, "images", "judged", "bled", "bleed rate", "95% CI", "outcomes"]
    rows, records = [], []
    for v in r.values:
        c = r.cells[v]
        rate = "-" if c.rate is None else f"{c.rate:.0%}"
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(c.outcomes.items()))
        rows.append([axis_label(r.axis, v), str(c.results), str(c.judged), str(c.bled), rate, format_interval(c),
                     outcomes])
        records.append({"axis": r.axis, "value": v, "counted": list(r.counted), **c.as_dict()})
    return Table(headers, rows, records)


def rates_text(all_rates: list[AxisRates], fmt: str) -> str:
    if not all_rates:
        return "" if fmt == "json" else "every result has the same weight, layout, naming, variant, count and LoRA\n"
    if fmt == "json":
        return "".join(RENDERERS["json"](rates_table(r)) for r in all_rates)
    sep = "\n" if fmt == "md" else ""
    return sep.join(RENDERERS[fmt](rates_table(r)) for r in all_rates)


def lines_table(lines: list[OperatingLine]) -> Table:
    headers = ["setting", "highest weight under the threshold", "judged there", "bled there", "95% CI",
               "first weight over", "verdict"]
    rows = []
    for ln in lines:
        c = ln.cell
        over = ln.first_over
        rows.append([describe_group(ln.group), "-" if ln.weight is None else axis_label("weight", ln.weight),
                     "-" if c is None else str(c.judged), "-" if c is None else str(c.bled),
                     "-" if c is None else format_interval(c),
                     "-" if over is None else f"{axis_label('weight', over.weight)} ({over.cell.rate:.0%})",
                     ln.verdict()])
    return Table(headers, rows, [ln.as_dict() for ln in lines])


def lines_text(lines: list[OperatingLine], fmt: str) -> str:
    return RENDERERS[fmt](lines_table(lines))


# ---------------------------------------------------------------- blocks
@dataclass
class Block:
    kind: str
    """heading, para, code, table, image, list."""
    text: str = ""
    level: int = 2
    table: Table | None = None
    items: list[str] = field(default_factory=list)
    src: str = ""
    """Image: the path relative to the document, or a data URI."""


@dataclass
class WriteupOptions:
    query: str = ""
    title: str = ""
    rows: str = "seed"
    cols: str = "weight"
    page: str | None = None
    """Third axis of the contact sheet; None picks the first of PAGE_AXES that varies."""
    max_bleed: float = 0.1
    min_judged: int = 3
    feature: str | None = None
    images_dir: Path | None = None
    link: bool = False
    cell: int = 256


@dataclass
class WriteupInfo:
    text: str
    images: int = 0
    problems: list[str] = field(default_factory=list)


class WriteupError(OSError):
    """A file or folder of the write-up cannot be written; the message names it."""


def _title(rows: Sequence[Any], opts: WriteupOptions) -> str:
    if opts.title:
        return opts.title
    sweeps = {getattr(r, "sweep_name", None) for r in rows}
    if len(sweeps) == 1 and None not in sweeps:
        return f"Sweep {next(iter(sweeps))}"
    return f"Results for {opts.query}" if opts.query else "All results"


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in text)[:60]


class _Images:
    """Where the document's images go and how it refers to them."""

    def __init__(self, doc_path: Path | None, images_dir: Path | None, link: bool, embed: bool):
        self.doc_dir = doc_path.parent if doc_path else None
        self.dir = images_dir
        self.link = link
        self.embed = embed
        self.count = 0

    def ref(self, target: Path) -> str:
        if self.embed:
            mime = {".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}.get(target.suffix.lower(), "png")
            return f"data:image/{mime};base64," + base64.b64encode(target.read_bytes()).decode("ascii")
        if self.doc_dir is None:
            return str(target.resolve())
        return Path(os.path.relpath(target.resolve(), self.doc_dir.resolve())).as_posix()

    def add(self, original: str, name: str) -> str:
        src = Path(original)
        if self.dir is not None and not self.link and not self.embed:
            dest = self.dir / (name + src.suffix.lower())
            try:
                shutil.copyfile(src, dest)
            except OSError as e:
                if e.filename and Path(e.filename) == src:
                    raise
                raise WriteupError(f"{dest}: cannot write: {e.strerror or e}") from None
            src = dest
        ref = self.ref(src)
        self.count += 1
        return ref


def build_writeup(catalog: Catalog, rows: Sequence[Any], opts: WriteupOptions, images: _Images,
                  problems: list[str]) -> list[Block]:
    """The document's blocks; copies images and writes the contact sheet as it goes."""
    rows = list(rows)
    ids = [r.id for r in rows]
    j = load_judgements(catalog, ids)
    judged = sum(1 for i in ids if j.annotations.get(i))
    blocks = [Block("heading", _title(rows, opts), level=1)]
    what = f"query `{opts.query}`" if opts.query else "the whole catalog"
    blocks.append(Block("para", f"{len(rows)} images ({what}), {judged} of them judged (at least one annotation). "
                                f"Made with gentui {gentui.__version__}."))
    fixed, varied = fixed_and_varied(rows)
    blocks.append(Block("heading", "Setup"))
    short = [(k, v) for k, v in fixed if k not in LONG_PARAMETERS]
    if short:
        blocks.append(Block("table", table=Table(["parameter", "value"], [[k, v] for k, v in short])))
    if varied:
        blocks.append(Block("para", "Varied: " + ", ".join(f"{k} ({n} values)" for k, n in varied) + "."))
    values = dict(fixed)
    for k, v in fixed:
        if k in LONG_PARAMETERS and not (k == "prompt sent" and v == values.get("prompt")):
            blocks += [Block("para", f"{k[0].upper()}{k[1:]}:"), Block("code", v)]
    chars = _characters(catalog, ids)
    if chars:
        blocks.append(Block("list", items=chars))

    page = opts.page or next((a for a in PAGE_AXES if a not in (opts.rows, opts.cols)
                              and len(ordered_values(rows, a)) > 1), None)
    pages = plan_sheets(rows, opts.rows, opts.cols, page)
    if images.dir is not None or images.embed:
        sheet_dir = images.dir if images.dir is not None else None
        blocks.append(Block("heading", "Contact sheet"))
        if sheet_dir is None:  # embedded HTML: draw into a temp file, then embed it
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                info = make_contact_sheet(rows, Path(tmp) / "sheet.png", rows=opts.rows, cols=opts.cols, page=page,
                                          cell=opts.cell, title=_title(rows, opts), captions=True,
                                          notes=cell_notes(catalog, rows))
                srcs = [images.ref(p) for p in info.paths]
        else:
            info = make_contact_sheet(rows, sheet_dir / "contact-sheet.png", rows=opts.rows, cols=opts.cols,
                                      page=page, cell=opts.cell, title=_title(rows, opts), captions=True,
                                      notes=cell_notes(catalog, rows))
            srcs = [images.ref(p) for p in info.paths]
        problems += [f"unreadable: {m}" for m in info.missing]
        for pg, src in zip(pages, srcs) if len(srcs) == len(pages) else ((None, s) for s in srcs):
            where = f", {page} {axis_label(page, pg.page_value)}" if page and pg is not None else ""
            blocks.append(Block("image", f"contact sheet: rows {opts.rows}, columns {opts.cols}{where}", src=src))
    else:
        blocks.append(Block("para", "(No contact sheet: give `--images DIR` to write one beside the document.)"))

    blocks.append(Block("heading", f"By {opts.cols}"))
    blocks.append(Block("para", "Each character's own features as judged, and what bled onto it from the others; "
                                "`2/3` counts judged images when several share a value."))
    blocks.append(Block("table", table=grouped_table(catalog, rows, opts.cols)))

    blocks.append(Block("heading", "Bleed rates"))
    blocks.append(Block("para", "A judged image bled when one of its annotations is migrated, duplicated or "
                                "color_drift. 95% CI: Wilson score interval."))
    all_rates = rates_by(catalog, ids, feature=opts.feature)
    if not all_rates:
        all_rates = rates_by(catalog, ids, ["weight"], feature=opts.feature, keep_single=True)
    for r in all_rates:
        blocks.append(Block("table", table=rates_table(r)))

    blocks.append(Block("heading", "Operating line"))
    lines = operating_lines(catalog, ids, max_bleed=opts.max_bleed, min_judged=opts.min_judged,
                            feature=opts.feature)
    blocks.append(Block("para", f"The highest LoRA weight whose bleed rate stays under {opts.max_bleed:.0%}, "
                                f"called when at least {opts.min_judged} images were judged there."))
    blocks.append(Block("list", items=[f"{describe_group(ln.group)}: {ln.verdict()}" for ln in lines]
                        or ["no results with a LoRA weight"]))

    blocks.append(Block("heading", "Images"))
    for pg in pages:
        if page:
            blocks.append(Block("heading", f"{page} {axis_label(page, pg.page_value)}", level=3))
        for rv in pg.row_values:
            for cv in pg.col_values:
                r = pg.grid.get((rv, cv))
                if r is None:
                    continue
                head = f"{opts.cols} {axis_label(opts.cols, cv)}, {opts.rows} {axis_label(opts.rows, rv)}"
                blocks.append(Block("heading", head, level=4 if page else 3))
                name = _safe(f"{r.id:05d}-{opts.cols}{axis_label(opts.cols, cv)}-{opts.rows}"
                             f"{axis_label(opts.rows, rv)}")
                try:
                    src = images.add(r.path, name)
                except WriteupError:
                    raise
                except OSError as e:  # the original image is gone or unreadable
                    problems.append(f"{r.path}: cannot read the image ({e.strerror or e}); left out")
                    continue
                blocks.append(Block("image", f"#{r.id} {head}", src=src))
                blocks.append(Block("list", items=_caption(r, j) + _colour_line(catalog, r)))
    return blocks


def _characters(catalog: Catalog, ids: list[int]) -> list[str]:
    from sqlalchemy import select

    from gentui.catalog.models import Character

    seen: dict[tuple, int] = {}
    with catalog.engine.connect() as conn:
        for c in conn.execute(select(Character.slot, Character.name, Character.appearance, Character.has_trigger)
                              .where(Character.result_id.in_(ids[:500]))):
            seen[(c.slot, c.name, c.appearance, c.has_trigger)] = seen.get((c.slot, c.name, c.appearance,
                                                                             c.has_trigger), 0) + 1
    out = []
    for (slot, name, appearance, trig), _n in sorted(seen.items(), key=lambda kv: str(kv[0][0])):
        text = f"{slot}: {name or 'unnamed'}" + (" (LoRA trigger)" if trig else "")
        if appearance:
            text += f" — {appearance}"
        out.append(text)
    return out


def _caption(r: Any, j: Any) -> list[str]:
    items = [f"#{r.id}, seed {r.seed}, weight {axis_label('weight', axis_value(r, 'weight'))}"
             + (f", {r.layout}" if r.layout else "") + (f", {r.variant}" if r.variant else "")]
    per = j.by_slot(r.id)
    for slot, anns in per.items():
        name = j.names[r.id].get(slot)
        who = f"{slot} ({name})" if name else slot
        items.append(f"{who}: " + "; ".join(describe_annotation(a) for a in anns))
    if not per:
        items.append("not judged yet")
    if j.tags.get(r.id):
        items.append("tags: " + ", ".join(j.tags[r.id]))
    return items


def _colour_line(catalog: Catalog, r: Any) -> list[str]:
    """`measured colours: left: chestnut 31%, ...` (nothing when the picture cannot be read)."""
    from gentui.analysis.colours import ColourError, readout_for_result, summary

    try:
        return ["measured colours (XKCD names, whole columns): " + summary(readout_for_result(catalog, r.id))]
    except ColourError:
        return []


# ---------------------------------------------------------------- rendering
def render_md(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind == "heading":
            out.append("#" * b.level + " " + b.text)
        elif b.kind == "para":
            out.append(b.text)
        elif b.kind == "code":
            out.append("```\n" + b.text + "\n```")
        elif b.kind == "table" and b.table is not None:
            out.append(RENDERERS["md"](b.table).rstrip("\n"))
        elif b.kind == "image":
            out.append(f"![{md_cell(b.text)}]({b.src.replace(' ', '%20')})")
        elif b.kind == "list":
            out.append("\n".join(f"- {i}" for i in b.items))
    return "\n\n".join(out) + "\n"


_CSS = ("body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.4}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:.2em .5em;"
        "text-align:left;vertical-align:top}img{max-width:100%}pre{background:#f3f3f3;padding:.5em;"
        "white-space:pre-wrap}")


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def render_html(blocks: list[Block]) -> str:
    title = next((b.text for b in blocks if b.kind == "heading"), "gentui write-up")
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    for b in blocks:
        if b.kind == "heading":
            out.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif b.kind == "para":
            out.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "code":
            out.append(f"<pre>{html.escape(b.text)}</pre>")
        elif b.kind == "table" and b.table is not None:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.table.headers)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                           for row in b.table.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "image":
            out.append(f"<figure><img src=\"{html.escape(b.src, quote=True)}\" alt=\"{html.escape(b.text)}\">"
                       f"</figure>")
        elif b.kind == "list":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_writeup(catalog: Catalog, rows: Sequence[Any], out: Path | None, fmt: str,
                  opts: WriteupOptions) -> WriteupInfo:
    """Build the write-up; write it to `out` (None: return the text only, images linked where they are)."""
    images_dir = opts.images_dir
    if images_dir is not None:
        if not images_dir.parent.is_dir():
            raise WriteupError(f"{images_dir}: its folder {images_dir.parent} does not exist")
        try:
            images_dir.mkdir(exist_ok=True)
        except OSError as e:
            raise WriteupError(f"{images_dir}: cannot create the images folder: {e.strerror or e}") from None
    if out is not None and not out.parent.is_dir():
        raise WriteupError(f"{out}: the folder {out.parent} does not exist")
    embed = fmt == "html" and images_dir is None
    images = _Images(out, images_dir, opts.link, embed)
    problems: list[str] = []
    blocks = build_writeup(catalog, rows, opts, images, problems)
    text = render_html(blocks) if fmt == "html" else render_md(blocks)
    if out is not None:
        try:
            atomic_write_bytes(out, text.encode("utf-8"))
        except OSError as e:
            raise WriteupError(f"{out}: cannot write: {e.strerror or e}") from None
    return WriteupInfo(text, images.count, problems)
