"""`gentui report`: write-up tables, bleed rates, the operating line and the write-up document.

    gentui report 'sweep:kana-2girls' --by weight                 # per-weight table, per character
    gentui report 'sweep:kana-2girls' --rates                     # bleed rates by weight, layout, ...
    gentui report 'chars:2,3' --operating-line --max-bleed 0.1    # the highest safe weight per setting
    gentui report 'sweep:kana-2girls' --images writeup/           # writeup/writeup.md with its images
    gentui report 'sweep:kana-2girls' --format html -o kana.html  # one self-contained HTML file

`gentui export table` and `gentui export matrix` print through the same
functions (`results_table_text`, `matrix_text`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gentui.config import Settings

MAX_RESULTS = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="?", default="", help="query language filter; a sweep is `sweep:NAME`")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--by", metavar="AXIS", help="one row per value of AXIS (weight, seed, layout, named, ...)")
    what.add_argument("--rates", action="store_true",
                      help="bleed rates with 95%% intervals by weight, layout, named, variant, chars, lora")
    what.add_argument("--operating-line", action="store_true",
                      help="per layout x named x chars, the highest weight whose bleed rate stays under --max-bleed")
    parser.add_argument("--max-bleed", type=float, default=0.1, help="bleed rate the line stays under (default 0.1)")
    parser.add_argument("--min-judged", type=int, default=3,
                        help="judged images a weight needs before the line is called (default 3)")
    parser.add_argument("--feature", default="", help="count only annotations of this feature")
    parser.add_argument("--format", choices=["md", "csv", "json", "html"], default=None,
                        help="md (default), csv, json; the write-up document also as html")
    parser.add_argument("--images", metavar="DIR",
                        help="write the whole write-up: the document plus its images copied into DIR")
    parser.add_argument("--link", action="store_true",
                        help="with --images: link the original images (relative paths) instead of copying them")
    parser.add_argument("--rows", default="seed", help="write-up contact sheet rows (default seed)")
    parser.add_argument("--cols", default="weight", help="write-up contact sheet columns (default weight)")
    parser.add_argument("--title", default="", help="write-up title (default: the sweep or the query)")
    parser.add_argument("-o", "--output", help="write to this file instead of standard output")


def fetch(settings: Settings, text: str, sort: str | None = None, prog: str = "gentui report") -> tuple[Any, list]:
    """The catalog and the rows `text` matches (exits 2 on a query mistake, 1 on a catalog error)."""
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.catalog.query import QueryError, parse_query, search

    try:
        query = parse_query(text)
    except QueryError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        catalog = open_catalog(settings.catalog_path)
    except CatalogError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    try:
        rows = search(catalog, query, sort=sort, descending=sort is None, limit=MAX_RESULTS, offset=0)
    except ValueError as e:  # an unknown sort key
        print(f"{prog}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return catalog, rows


def emit(text: str, output: str | None) -> None:
    """Print `text`, or write it to `output` (errors name that path)."""
    if not output:
        sys.stdout.write(text)
        return
    from gentui.catalog.sidecar import atomic_write_bytes

    path = Path(output).expanduser()
    if not path.parent.is_dir():
        raise OutputError(f"{output}: the folder {path.parent} does not exist")
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as e:
        raise OutputError(f"{output}: cannot write: {e.strerror or e}") from None
    print(f"wrote {output}", file=sys.stderr)


class OutputError(Exception):
    """A file the user named cannot be written; the message names it."""


# ---------------------------------------------------------------- shared with `gentui export`
def results_table_text(catalog: Any, rows: list, axes: list[str], fmt: str, with_path: bool = False) -> str:
    from gentui.analysis.report import annotation_table
    from gentui.analysis.tables import RENDERERS

    return RENDERERS[fmt](annotation_table(catalog, rows, axes, with_path=with_path))


def matrix_text(catalog: Any, rows: list, rows_axis: str, cols_axis: str, fmt: str,
                outcome: str | None = None, feature: str | None = None) -> str:
    from gentui.analysis.bleed import bleed_matrix, matrix_table
    from gentui.analysis.tables import RENDERERS

    m = bleed_matrix(catalog, [r.id for r in rows], rows=rows_axis, cols=cols_axis, outcome=outcome, feature=feature)
    return RENDERERS[fmt](matrix_table(m))


# ---------------------------------------------------------------- run
def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.analysis.axes import AxisError

    try:
        return _run(args, settings)
    except (AxisError, ValueError) as e:
        print(f"gentui report: {e}", file=sys.stderr)
        return 2
    except OutputError as e:
        print(f"gentui report: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.analysis import rates, report, writeup
    from gentui.analysis.tables import RENDERERS

    fmt = args.format or "md"
    document = bool(args.images) or fmt == "html" or not (args.by or args.rates or args.operating_line)
    if args.format == "html" and (args.by or args.rates or args.operating_line):
        raise ValueError("--format html is for the write-up document; tables are md, csv or json")
    if document and fmt in ("csv", "json"):
        raise ValueError(f"the write-up document is md or html, not {fmt}; "
                         "for a table add --by AXIS, --rates or --operating-line")
    catalog, rows = fetch(settings, args.query, sort="weight" if args.by else None)
    if not rows:
        print(f"gentui report: no results match {args.query!r}", file=sys.stderr)
        return 1
    ids = [r.id for r in rows]
    feature = args.feature or None
    if args.by:
        emit(RENDERERS[fmt](report.grouped_table(catalog, rows, args.by)), args.output)
    elif args.rates:
        emit(writeup.rates_text(rates.rates_by(catalog, ids, feature=feature), fmt), args.output)
    elif args.operating_line:
        lines = rates.operating_lines(catalog, ids, max_bleed=args.max_bleed, min_judged=args.min_judged,
                                      feature=feature)
        emit(writeup.lines_text(lines, fmt), args.output)
    else:
        return _document(args, catalog, rows, fmt)
    print(f"{len(rows)} results", file=sys.stderr)
    return 0


def _document(args: argparse.Namespace, catalog: Any, rows: list, fmt: str) -> int:
    from gentui.analysis.contact_sheet import SheetError
    from gentui.analysis.writeup import WriteupError, WriteupOptions, write_writeup

    if not args.images and not args.output and fmt == "md":
        out = None
    else:
        out = Path(args.output).expanduser() if args.output else \
            Path(args.images).expanduser() / ("writeup.html" if fmt == "html" else "writeup.md")
    opts = WriteupOptions(query=args.query, title=args.title, rows=args.rows, cols=args.cols,
                          max_bleed=args.max_bleed, min_judged=args.min_judged, feature=args.feature or None,
                          images_dir=Path(args.images).expanduser() if args.images else None, link=args.link)
    try:
        info = write_writeup(catalog, rows, out, fmt, opts)
    except WriteupError as e:
        raise OutputError(str(e)) from None
    except SheetError as e:
        raise OutputError(str(e)) from None
    if out is None:
        sys.stdout.write(info.text)
    else:
        print(f"wrote {out} ({len(rows)} results, {info.images} images)", file=sys.stderr)
    for m in info.problems:
        print(f"  {m}", file=sys.stderr)
    return 0
