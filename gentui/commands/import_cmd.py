"""`gentui import PATH...`: index images, sidecars, ComfyUI PNGs and mflux output.

A progress bar on stderr while it works (only when stderr is a terminal), then
a summary: imported, updated, skipped, failed with each failure's path and
reason. Exit status 1 when anything failed, so scripts notice.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gentui.config import Settings

MAX_LISTED = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="images, sidecars or folders (walked recursively); default: the output folder")
    parser.add_argument("--rebuild", action="store_true",
                        help="re-read every sidecar even if unchanged and drop rows whose image is gone "
                             "(sweeps, jobs and the translation cache are kept)")
    parser.add_argument("--no-thumbnails", action="store_true", help="do not make thumbnails (faster)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _progress(quiet: bool) -> tuple[Any, Any]:
    """A rich progress bar on stderr when it is a terminal; (callback, context) or (None, None)."""
    if quiet or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("import", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.catalog.importer import import_paths

    paths = args.paths or [str(settings.output_dir)]
    if not args.paths:
        print(f"gentui import: no PATH given, importing the output folder {settings.output_dir}", file=sys.stderr)
    try:
        catalog = open_catalog(settings.catalog_path)
    except CatalogError as e:
        print(f"gentui import: {e}", file=sys.stderr)
        return 1
    update, bar = _progress(args.quiet or args.json)
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    try:
        if bar is not None:
            with bar:
                report = import_paths(catalog, paths, None if args.no_thumbnails else settings.thumbnail_dir,
                                      progress=update, rebuild=args.rebuild)
        else:
            report = import_paths(catalog, paths, None if args.no_thumbnails else settings.thumbnail_dir,
                                  rebuild=args.rebuild)
    except (sqlite3.Error, SQLAlchemyError) as e:
        print(f"gentui import: cannot use the catalog {settings.catalog_path}: {e}", file=sys.stderr)
        return 1
    finally:
        catalog.close()
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        _print_summary(report)
    return 0 if report.ok else 1


def _print_summary(report: Any) -> None:
    out = sys.stdout
    for title, items in (("warnings", report.warnings), ("failed", report.failed)):
        if not items:
            continue
        print(f"{title}:", file=out)
        for path, reason in items[:MAX_LISTED]:
            print(f"  {path}: {reason}", file=out)
        if len(items) > MAX_LISTED:
            print(f"  ... and {len(items) - MAX_LISTED} more (use --json for all)", file=out)
    parts = [f"imported {report.imported}", f"updated {report.updated}", f"skipped {report.skipped} unchanged",
             f"failed {len(report.failed)}"]
    if report.removed:
        parts.append(f"removed {report.removed} (image gone)")
    rate = ""
    done = report.imported + report.updated
    if done and report.elapsed_s > 0:
        rate = f" in {report.elapsed_s:.1f} s ({done / report.elapsed_s:,.0f}/s)"
    print(", ".join(parts) + rate, file=out)
