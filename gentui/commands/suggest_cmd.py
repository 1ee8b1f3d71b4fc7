"""`gentui suggest QUERY`: suggested annotations from an Ollama vision model, and deciding them in bulk.

    gentui suggest 'sweep:kana-2girls'              # ask the [suggest] model about each result
    gentui suggest 'sweep:kana-2girls' --list       # the pending suggestions
    gentui suggest 'sweep:kana-2girls' --accept     # record them all as annotations by that model
    gentui suggest 'w:1.2' --reject                 # or turn them all down

Suggestions are off until `[suggest] model` names a vision model.
"""

from __future__ import annotations

import argparse
import sys

from gentui.commands.report_cmd import fetch
from gentui.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="?", default="", help="query language filter (default: everything)")
    act = parser.add_mutually_exclusive_group()
    act.add_argument("--list", action="store_true", help="print the pending suggestions")
    act.add_argument("--accept", action="store_true", help="accept every pending suggestion of these results")
    act.add_argument("--reject", action="store_true", help="reject every pending suggestion of these results")
    parser.add_argument("--again", action="store_true", help="ask again about results the model already answered")
    parser.add_argument("--limit", type=int, default=0, help="ask about at most this many results")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.catalog.annotations import AnnotationError

    catalog, rows = fetch(settings, args.query, prog="gentui suggest")
    if not rows:
        print(f"gentui suggest: no results match {args.query!r}", file=sys.stderr)
        return 1
    try:
        if args.list or args.accept or args.reject:
            return _decide(catalog, rows, args)
        return _ask(catalog, rows, args, settings)
    except AnnotationError as e:
        print(f"gentui suggest: {e}", file=sys.stderr)
        return 1
    finally:
        catalog.close()


def _decide(catalog, rows, args) -> int:
    from gentui.catalog.suggestions import (
        decide_all,
        describe_suggestion,
        load_suggestions,
    )

    total = 0
    for r in rows:
        items = [s for s in load_suggestions(catalog, r.id) if s["state"] == "pending"]
        if not items:
            continue
        if args.list:
            for s in items:
                print(f"#{r.id}\t{s['slot']}\t{describe_suggestion(s)}\t[{s['author']}]\t{s['id']}")
            total += len(items)
        else:
            total += decide_all(catalog, r.id, accept=args.accept)
    verb = "pending" if args.list else ("accepted" if args.accept else "rejected")
    print(f"{total} suggestion(s) {verb} over {len(rows)} result(s)", file=sys.stderr)
    return 0


def _ask(catalog, rows, args, settings) -> int:
    from sqlmodel import select

    from gentui.analysis.suggest import (
        CharacterInfo,
        OllamaUnavailable,
        Suggester,
        SuggestionsOff,
        summarize,
    )
    from gentui.catalog.models import Character
    from gentui.catalog.suggestions import add_suggestions, load_suggestions

    try:
        suggester = Suggester(settings)
    except SuggestionsOff as e:
        print(f"gentui suggest: {e}", file=sys.stderr)
        return 2
    model = settings.suggest.model
    asked = 0
    for r in rows:
        if args.limit and asked >= args.limit:
            break
        if not args.again and any(s["author"] == model and s["state"] != "failed"
                                  for s in load_suggestions(catalog, r.id)):
            continue
        with catalog.session() as s:
            chars = [CharacterInfo(c.slot or str(c.idx), c.name, c.appearance) for c in
                     s.exec(select(Character).where(Character.result_id == r.id).order_by(Character.idx))]
        try:
            entries = suggester.ask_result(catalog, r.path, chars)
        except OllamaUnavailable as e:
            print(f"gentui suggest: {e}", file=sys.stderr)
            return 1
        except ValueError as e:
            print(f"#{r.id}: skipped: {e}", file=sys.stderr)
            continue
        add_suggestions(catalog, r.id, entries)
        asked += 1
        print(f"#{r.id}: {summarize(entries)}", file=sys.stderr)
    print(f"asked {model} about {asked} result(s); `gentui suggest QUERY --list` shows what it suggests",
          file=sys.stderr)
    return 0
