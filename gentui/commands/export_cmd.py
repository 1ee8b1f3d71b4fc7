"""`gentui export`: the tables, bleed matrices and contact sheets people publish.

    gentui export table 'sweep:kana-2girls seed:1293127692' --format md
    gentui export sheet 'sweep:kana-2girls' -o kana.png --rows seed --cols weight
    gentui export matrix 'chars:2' --rows weight --cols named
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gentui.config import Settings

MAX_RESULTS = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    t = sub.add_parser("table", help="one row per result with each character's annotations")
    t.add_argument("query", nargs="?", default="", help="query language filter (default: everything)")
    t.add_argument("--format", choices=["md", "csv", "json"], default="md")
    t.add_argument("--axes", default="seed,weight,layout,named",
                   help="leading columns, comma-separated (default: seed,weight,layout,named)")
    t.add_argument("--sort", default="weight", help="sort key of the query language (default: weight)")
    t.add_argument("--path", action="store_true", help="add the image path as the last column")
    t.add_argument("-o", "--output", help="write to this file instead of standard output")
    s = sub.add_parser("sheet", help="a labelled image grid of two axes (seed x weight by default)")
    s.add_argument("query", nargs="?", default="")
    s.add_argument("-o", "--output", required=True, help="image file to write (.png, .jpg, .webp)")
    s.add_argument("--rows", default="seed")
    s.add_argument("--cols", default="weight")
    s.add_argument("--cell", type=int, default=256, help="cell size in pixels (default 256)")
    s.add_argument("--title", default="", help="title line (default: the query)")
    s.add_argument("--no-labels", action="store_true", help="no axis labels (for blind judging)")
    m = sub.add_parser("matrix", help="outcome rates per two axes from the annotations")
    m.add_argument("query", nargs="?", default="")
    m.add_argument("--rows", default="weight")
    m.add_argument("--cols", default="layout")
    m.add_argument("--outcome", default="", help="count only this outcome (default: every bleed outcome)")
    m.add_argument("--feature", default="", help="count only this feature")
    m.add_argument("--format", choices=["md", "csv", "json"], default="md")
    m.add_argument("-o", "--output")


def _fetch(settings: Settings, text: str, sort: str | None = None):
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.catalog.query import QueryError, parse_query, search

    try:
        query = parse_query(text)
    except QueryError as e:
        print(f"gentui export: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        catalog = open_catalog(settings.catalog_path)
    except CatalogError as e:
        print(f"gentui export: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    rows = search(catalog, query, sort=sort, descending=sort is None, limit=MAX_RESULTS, offset=0)
    return catalog, rows


def _emit(text: str, output: str | None) -> None:
    if output:
        from gentui.catalog.sidecar import atomic_write_bytes

        atomic_write_bytes(Path(output), text.encode("utf-8"))
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.analysis.axes import AxisError

    try:
        if args.what == "table":
            return _table(args, settings)
        if args.what == "sheet":
            return _sheet(args, settings)
        return _matrix(args, settings)
    except AxisError as e:
        print(f"gentui export: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"gentui export: cannot write {getattr(e, 'filename', '') or args.output}: {e.strerror}", file=sys.stderr)
        return 1


def _table(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.analysis.report import RENDERERS, annotation_table

    catalog, rows = _fetch(settings, args.query, sort=args.sort)
    table = annotation_table(catalog, rows, [a.strip() for a in args.axes.split(",") if a.strip()],
                             with_path=args.path)
    _emit(RENDERERS[args.format](table), args.output)
    print(f"{len(rows)} results", file=sys.stderr)
    return 0


def _sheet(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.analysis.contact_sheet import make_contact_sheet

    _catalog, rows = _fetch(settings, args.query)
    if not rows:
        print(f"gentui export: no results match {args.query!r}", file=sys.stderr)
        return 1
    try:
        info = make_contact_sheet(rows, args.output, rows=args.rows, cols=args.cols, cell=args.cell,
                                  title=args.title or args.query, labels=not args.no_labels)
    except ValueError as e:
        print(f"gentui export: {e}", file=sys.stderr)
        return 2
    print(f"wrote {info.path}: {info.rows} rows x {info.cols} columns, {info.cells} images", file=sys.stderr)
    for m in info.missing:
        print(f"  unreadable: {m}", file=sys.stderr)
    return 1 if info.missing else 0


def _matrix(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.analysis.bleed import bleed_matrix, matrix_table
    from gentui.analysis.report import RENDERERS

    catalog, rows = _fetch(settings, args.query)
    matrix = bleed_matrix(catalog, [r.id for r in rows], rows=args.rows, cols=args.cols,
                          outcome=args.outcome or None, feature=args.feature or None)
    _emit(RENDERERS[args.format](matrix_table(matrix)), args.output)
    return 0
