"""`gentui query 'QUERY'`: search the catalog from the shell.

    gentui query 'w:0.6..0.8 chars:3 tag:bleed feature:side_ponytail=migrated'
    gentui query 'sweep:kana-2girls' --format md --sort weight --asc
    gentui query 'char:Lily -tag:keeper' --count

A query mistake prints the token, its column (with a caret under the query),
why, and the valid keys, and exits with status 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import datetime
from typing import Any

from gentui.config import Settings

FORMATS = ("table", "json", "csv", "md")
PAGE = 2000
COLUMNS = ("id", "date", "seed", "weight", "layout", "chars", "named", "model", "size", "steps", "cfg",
           "sweep", "tags", "rating", "status", "path")
TABLE_COLUMNS = ("id", "date", "seed", "weight", "layout", "chars", "named", "tags", "status", "path")
_INTERNAL = {"id", "path", "sidecar_path", "file_size", "file_mtime_ns", "sidecar_size", "sidecar_mtime_ns",
             "thumb", "tags", "source_format"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gentui.catalog.query import SORT_KEYS

    parser.add_argument("query", nargs="?", default="", help="the query (default: every result); see README")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table (terminal), json (one object per line, with the sidecar), csv, md")
    parser.add_argument("--limit", type=int, default=100, metavar="N", help="at most N results (0: all; default 100)")
    parser.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N results")
    parser.add_argument("--sort", choices=sorted(SORT_KEYS), default="created_at", metavar="KEY",
                        help=f"sort key: {', '.join(sorted(SORT_KEYS))} (default created_at, newest first)")
    parser.add_argument("--asc", action="store_true", help="ascending order (default descending)")
    parser.add_argument("--count", action="store_true", help="print only the number of matches")


def print_query_error(prog: str, e: Any) -> None:
    """The error as users need it: where (caret), what is wrong, what is allowed."""
    from gentui.catalog.query import keys_help

    err = sys.stderr
    print(f"{prog}: query error at column {e.column} ({e.token!r}): {e.reason}", file=err)
    if e.query:
        print("  " + e.caret().replace("\n", "\n  "), file=err)
    print(f"valid keys: {keys_help()}", file=err)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.catalog.query import QueryError, count, parse_query

    try:
        query = parse_query(args.query)
    except QueryError as e:
        print_query_error("gentui query", e)
        return 2
    if args.limit < 0 or args.offset < 0:
        print("gentui query: --limit and --offset must be 0 or more", file=sys.stderr)
        return 2
    try:
        catalog = open_catalog(settings.catalog_path, create=False)
    except CatalogError as e:
        print(f"gentui query: {e}", file=sys.stderr)
        return 1
    try:
        if args.count:
            print(count(catalog, query))
            return 0
        rows = list(_rows(catalog, query, args))
        out = sys.stdout
        if args.format == "table":
            _table(rows, out)
        elif args.format == "json":
            for r in rows:
                out.write(json.dumps(_json_object(r), ensure_ascii=False, default=str) + "\n")
        elif args.format == "csv":
            _csv(rows, out)
        else:
            out.write(markdown(rows))
        return 0
    except BrokenPipeError:  # `gentui query ... | head`
        return 0
    finally:
        catalog.close()


def _rows(catalog: Any, query: Any, args: argparse.Namespace) -> Any:
    """Pages of results, so `--limit 0` on a large catalog never holds more than a page of rows."""
    from gentui.catalog.query import search

    left = args.limit or None
    offset = args.offset
    while left is None or left > 0:
        n = PAGE if left is None else min(PAGE, left)
        page = search(catalog, query, sort=args.sort, descending=not args.asc, limit=n, offset=offset)
        yield from page
        if len(page) < n:
            return
        offset += n
        if left is not None:
            left -= n


def cells(r: Any) -> dict[str, str]:
    """A result's values as shown in tables: weights as typed (0.6, not 0.6000000000000001), `none` without a LoRA."""
    from gentui.catalog.sidecar import format_weight

    created = r.created_at.astimezone() if isinstance(r.created_at, datetime) else None
    named = "" if r.named is None else ("yes" if r.named else "no")
    return {
        "id": str(r.id), "date": created.strftime("%Y-%m-%d %H:%M") if created else "",
        "seed": "" if r.seed is None else str(r.seed), "weight": format_weight(r.lora_strength),
        "layout": r.layout or "", "chars": "" if r.n_characters is None else str(r.n_characters),
        "named": named, "model": r.model or "", "size": f"{r.width}x{r.height}" if r.width and r.height else "",
        "steps": "" if r.steps is None else str(r.steps), "cfg": "" if r.cfg is None else f"{r.cfg:g}",
        "sweep": r.sweep_name or "", "tags": ",".join(r.tags), "rating": "" if r.rating is None else str(r.rating),
        "status": r.status or "", "path": r.path,
    }


def _table(rows: list[Any], out: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    tty = hasattr(out, "isatty") and out.isatty()
    console = Console(file=out, soft_wrap=False, width=None if tty else 240)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for c in TABLE_COLUMNS:
        table.add_column(c, justify="right" if c in ("id", "seed", "weight", "chars") else "left",
                         overflow="fold" if c == "path" else "ellipsis")
    for r in rows:
        v = cells(r)
        table.add_row(*(v[c] for c in TABLE_COLUMNS))
    console.print(table)
    console.print(f"[dim]{len(rows)} result{'s' if len(rows) != 1 else ''}[/dim]")


def _csv(rows: list[Any], out: Any) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        v = cells(r)
        w.writerow([v[c] for c in COLUMNS])


def markdown(rows: list[Any], columns: tuple[str, ...] = COLUMNS) -> str:
    """A GitHub markdown table, the form people paste into write-ups."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    buf = io.StringIO()
    buf.write("| " + " | ".join(columns) + " |\n")
    buf.write("|" + "|".join("---:" if c in ("id", "seed", "weight", "chars", "steps", "cfg") else "---"
                             for c in columns) + "|\n")
    for r in rows:
        v = cells(r)
        buf.write("| " + " | ".join(esc(v[c]) for c in columns) + " |\n")
    return buf.getvalue()


def _json_object(r: Any) -> dict[str, Any]:
    """`id`, `path` and the sidecar's fields (read from the file when it exists, else from the row)."""
    from gentui.catalog.sidecar import SidecarError, read_sidecar

    obj: dict[str, Any] = {"id": r.id, "path": r.path}
    data = None
    if r.sidecar_path:
        try:
            data = read_sidecar(r.sidecar_path)
        except SidecarError as e:
            obj["sidecar_error"] = str(e)
    if data is None:
        data = {k: v for k, v in vars(r).items() if k not in _INTERNAL and v is not None}
        data["tags"] = r.tags
        if isinstance(data.get("created_at"), datetime):
            data["created_at"] = data["created_at"].isoformat()
    obj.update({k: v for k, v in data.items() if k not in ("id", "path")})
    obj.setdefault("tags", r.tags)
    return obj
