"""`gentui translate`: run a prompt through the Ollama cascade and show the path it took.

The English goes to stdout (so it can be piped); which models were rejected and
why, and which one was accepted, go to stderr. `--json` prints one JSON object
on stdout instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", help="the prompt (Japanese or JSON); or use --file")
    parser.add_argument("--file", "-f", metavar="F", help="read the prompt from a file (`-` for stdin)")
    parser.add_argument("--json", action="store_true", help='print {"text", "model", "rejected", ...} as JSON')
    parser.add_argument("--no-cache", action="store_true",
                        help="ask the models again; neither read nor write the catalog's translation cache")
    parser.add_argument("--model", "-m", action="append", metavar="M",
                        help="try this model instead of [translate] models (repeat for a cascade)")


def run(args: argparse.Namespace, settings: Any) -> int:
    from gentui.prompt.translate import TranslationFailed, Translator

    text = _read_text(args)
    if text is None:
        return 2
    catalog = None if args.no_cache else _open_cache(settings)
    translator = Translator(settings.translate, catalog)
    try:
        result = translator.translate(text, use_cache=not args.no_cache, models=args.model or None)
    except TranslationFailed as e:
        if args.json:
            print(json.dumps({"text": None, "model": None, "rejected": e.rejected, "error": str(e)},
                             ensure_ascii=False))
        else:
            for r in e.rejected:
                print(f"  {r['model']}: rejected: {r['reason']}", file=sys.stderr)
        print(f"gentui translate: {e}", file=sys.stderr)
        return 1
    finally:
        if catalog is not None:
            catalog.close()
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    print(result.text)
    if result.skipped:
        why = "no Japanese in the prompt" if result.skipped == "no Japanese" else result.skipped
        print(f"  not translated: {why}; sent as it is", file=sys.stderr)
        return 0
    for r in result.rejected:
        print(f"  {r['model']}: rejected: {r['reason']}", file=sys.stderr)
    print(f"  {result.model}: accepted{' (cached)' if result.cached else ''}", file=sys.stderr)
    return 0


def _read_text(args: argparse.Namespace) -> str | None:
    if (args.text is None) == (args.file is None):
        print("gentui translate: give the prompt as TEXT or with --file F (one of them)", file=sys.stderr)
        return None
    if args.text is not None:
        return args.text
    try:
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except OSError as e:
        print(f"gentui translate: {args.file}: cannot read: {e.strerror or e}", file=sys.stderr)
        return None
    except UnicodeDecodeError as e:
        print(f"gentui translate: {args.file}: not UTF-8 text (byte {e.start})", file=sys.stderr)
        return None
    return raw.strip("\n")


def _open_cache(settings: Any) -> Any:
    """The catalog for the translation cache; a broken catalog only costs the cache."""
    from gentui.catalog.db import CatalogError, open_catalog

    try:
        return open_catalog(settings.catalog_path)
    except CatalogError as e:
        print(f"gentui translate: translation cache unavailable ({e})", file=sys.stderr)
        return None
