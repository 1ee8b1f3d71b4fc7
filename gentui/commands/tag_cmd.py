"""`gentui tag RESULT...`: record judgements from the shell.

    gentui tag 42 --char Kanachan --feature side_ponytail --outcome migrated --target right
    gentui tag out/kana_w0.8.png --char left --feature scrunchie_color --outcome color_drift --color orange
    gentui tag 42 43 --add keeper,bleed --remove collapse --rating 4
    gentui tag --query 'sweep:kana-2girls w:1.2' --add bleed

RESULT is a result id or an image path. Each change goes to the catalog and
into the image's sidecar together (`gentui.catalog.annotations`).
"""

from __future__ import annotations

import argparse
import sys

from gentui.config import Settings

MAX_QUERY_MATCHES = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gentui.catalog.query_parser import OUTCOMES

    parser.add_argument("results", nargs="*", metavar="RESULT", help="result ids or image paths")
    parser.add_argument("--query", metavar="QUERY", help="also every result this query matches")
    a = parser.add_argument_group("annotation (one feature of one character)")
    a.add_argument("--char", metavar="SLOT|NAME", help="left/middle/right/front/back, an index, or the character's name")
    a.add_argument("--feature", metavar="F", help="side_ponytail, ahoge, scrunchie_color, hair_color, ... (free text)")
    a.add_argument("--outcome", choices=OUTCOMES, help="what happened to the feature")
    a.add_argument("--target", metavar="SLOT", help="where it went (migrated; duplicated: comma-separated slots)")
    a.add_argument("--color", metavar="C", help="the colour seen (color_drift)")
    a.add_argument("--note", metavar="TEXT", help="free note")
    a.add_argument("--author", default="user", help=argparse.SUPPRESS)
    a.add_argument("--remove-annotation", type=int, metavar="ID", action="append", default=[],
                   help="delete an annotation by id (repeatable)")
    t = parser.add_argument_group("tags and rating")
    t.add_argument("--add", metavar="TAGS", action="append", default=[], help="add free tags: keeper,bleed")
    t.add_argument("--remove", metavar="TAGS", action="append", default=[], help="remove free tags")
    t.add_argument("--rating", metavar="N", help="0-5, or `none` to clear")


def _split(values: list[str]) -> list[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def _usage(msg: str) -> int:
    print(f"gentui tag: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.catalog import annotations as ann
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.catalog.query import QueryError, parse_query, search

    annotating = any(v is not None for v in (args.char, args.feature, args.outcome))
    adds, removes = _split(args.add), _split(args.remove)
    if not (annotating or adds or removes or args.rating is not None or args.remove_annotation):
        return _usage("nothing to do: give --char/--feature/--outcome, --add, --remove, --rating "
                      "or --remove-annotation")
    if annotating and not (args.char and args.feature and args.outcome):
        return _usage("an annotation needs --char, --feature and --outcome together")
    rating = None
    if args.rating is not None and args.rating.lower() != "none":
        if not args.rating.isdigit() or not 0 <= int(args.rating) <= 5:
            return _usage(f"--rating {args.rating!r}: a whole number from 0 to 5, or none")
        rating = int(args.rating)
    query = None
    if args.query is not None:
        try:
            query = parse_query(args.query)
        except QueryError as e:
            from gentui.commands.query_cmd import print_query_error

            print_query_error("gentui tag", e)
            return 2
    if not args.results and query is None and (annotating or adds or removes or args.rating is not None):
        return _usage("which results? give RESULT ids or paths, or --query")
    try:
        catalog = open_catalog(settings.catalog_path, create=False)
    except CatalogError as e:
        print(f"gentui tag: {e}", file=sys.stderr)
        return 1
    try:
        ids = [r.id for r in ann.resolve_results(catalog, args.results)] if args.results else []
        if query is not None:
            matched = [r.id for r in search(catalog, query, limit=MAX_QUERY_MATCHES)]
            print(f"query matched {len(matched)} result{'s' if len(matched) != 1 else ''}", file=sys.stderr)
            ids += [i for i in matched if i not in set(ids)]
        for aid in args.remove_annotation:
            ann.remove_annotation(catalog, aid)
            print(f"removed annotation {aid}")
        if annotating:
            for rid in ids:
                aid = ann.add_annotation(catalog, rid, args.char, args.feature, args.outcome, target=args.target,
                                         color=args.color, note=args.note, author=args.author)
                extra = f" -> {args.target}" if args.target else (f" ({args.color})" if args.color else "")
                print(f"result {rid}: annotation {aid}: {args.char} {args.feature} {args.outcome}{extra}")
        if ids and adds:
            ann.add_tags(catalog, ids, adds)
            print(f"{len(ids)} result{'s' if len(ids) != 1 else ''}: +{', +'.join(adds)}")
        if ids and removes:
            ann.remove_tags(catalog, ids, removes)
            print(f"{len(ids)} result{'s' if len(ids) != 1 else ''}: -{', -'.join(removes)}")
        if args.rating is not None:
            for rid in ids:
                ann.set_rating(catalog, rid, rating)
            print(f"{len(ids)} result{'s' if len(ids) != 1 else ''}: rating {args.rating}")
        return 0
    except ann.SidecarWriteError as e:
        print(f"gentui tag: {e}", file=sys.stderr)
        return 1
    except ann.AnnotationError as e:
        print(f"gentui tag: {e}", file=sys.stderr)
        return 2
    finally:
        catalog.close()
