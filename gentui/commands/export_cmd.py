"""`gentui export`: the tables, bleed matrices and contact sheets people publish.

    gentui export table 'sweep:kana-2girls seed:1293127692' --format md
    gentui export sheet 'sweep:kana-2girls' -o kana.png --rows seed --cols weight --page layout
    gentui export matrix 'chars:2' --rows weight --cols named

`table` and `matrix` print through the same functions as `gentui report`.
"""

from __future__ import annotations

import argparse
import sys

from gentui.commands.report_cmd import (
    OutputError,
    emit,
    fetch,
    matrix_text,
    results_table_text,
)
from gentui.config import Settings


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
    s = sub.add_parser("sheet", help="a labelled image grid: rows x columns, one file per value of --page")
    s.add_argument("query", nargs="?", default="")
    s.add_argument("-o", "--output", required=True, help="image file to write (.png, .jpg, .webp)")
    s.add_argument("--rows", default="seed", help="row axis (default seed)")
    s.add_argument("--cols", default="weight", help="column axis (default weight)")
    s.add_argument("--page", default=None, help="third axis: one file per value (NAME-AXIS_VALUE.png)")
    s.add_argument("--cell", type=int, default=256, help="cell size in pixels (default 256)")
    s.add_argument("--title", default="", help="title line (default: the query)")
    s.add_argument("--captions", action="store_true", help="a caption under each cell (#id and its values)")
    s.add_argument("--judgements", action="store_true", help="draw each image's annotations and tags on it")
    s.add_argument("--no-legend", action="store_true", help="leave out the legend of fixed parameters")
    s.add_argument("--max-size", type=int, default=8192,
                   help="largest width or height of one file in pixels; bigger grids are tiled (default 8192)")
    s.add_argument("--no-labels", action="store_true", help="no axis labels, captions or legend (for blind judging)")
    m = sub.add_parser("matrix", help="outcome rates per two axes from the annotations")
    m.add_argument("query", nargs="?", default="")
    m.add_argument("--rows", default="weight")
    m.add_argument("--cols", default="layout")
    m.add_argument("--outcome", default="", help="count only this outcome (default: every bleed outcome)")
    m.add_argument("--feature", default="", help="count only this feature")
    m.add_argument("--format", choices=["md", "csv", "json"], default="md")
    m.add_argument("-o", "--output")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.analysis.axes import AxisError
    from gentui.analysis.contact_sheet import SheetError

    try:
        if args.what == "table":
            catalog, rows = fetch(settings, args.query, sort=args.sort, prog="gentui export")
            axes = [a.strip() for a in args.axes.split(",") if a.strip()]
            emit(results_table_text(catalog, rows, axes, args.format, with_path=args.path), args.output)
            print(f"{len(rows)} results", file=sys.stderr)
            return 0
        if args.what == "sheet":
            return _sheet(args, settings)
        catalog, rows = fetch(settings, args.query, prog="gentui export")
        emit(matrix_text(catalog, rows, args.rows, args.cols, args.format, outcome=args.outcome or None,
                         feature=args.feature or None), args.output)
        return 0
    except SheetError as e:
        print(f"gentui export: {e}", file=sys.stderr)
        return 1 if "cannot write" in str(e) else 2
    except (AxisError, ValueError) as e:
        print(f"gentui export: {e}", file=sys.stderr)
        return 2
    except OutputError as e:
        print(f"gentui export: {e}", file=sys.stderr)
        return 1


def _sheet(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.analysis.contact_sheet import check_output, make_contact_sheet
    from gentui.analysis.report import cell_notes

    check_output(args.output)  # before the query runs: a wrong name is the quickest mistake to report
    catalog, rows = fetch(settings, args.query, prog="gentui export")
    if not rows:
        print(f"gentui export: no results match {args.query!r}", file=sys.stderr)
        return 1
    labels = not args.no_labels
    notes = cell_notes(catalog, rows) if args.judgements else None
    info = make_contact_sheet(rows, args.output, rows=args.rows, cols=args.cols, page=args.page, cell=args.cell,
                              title=(args.title or args.query) if labels else "", labels=labels,
                              captions=args.captions, notes=notes, legend=not args.no_legend,
                              max_size=args.max_size)
    files = f" in {len(info.paths)} files" if len(info.paths) > 1 else ""
    print(f"wrote {info.path}{files}: {info.rows} rows x {info.cols} columns, {info.cells} images", file=sys.stderr)
    for p in info.paths[1:]:
        print(f"  also {p}", file=sys.stderr)
    for m in info.missing:
        print(f"  unreadable: {m}", file=sys.stderr)
    return 1 if info.missing else 0
