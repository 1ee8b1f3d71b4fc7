"""`gentui colors RESULT`: the dominant colours of each character's region, named in plain words.

    gentui colors 42
    gentui colors ~/out/kana_0.8.png --json
    gentui colors 42 --region scrunchie=0.05,0.1,0.2,0.25
"""

from __future__ import annotations

import argparse
import json
import sys

from gentui.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", help="a result id or an image path (an image not in the catalog works too)")
    parser.add_argument("--region", action="append", default=[], metavar="NAME=x0,y0,x1,y1",
                        help="measure this box instead (fractions of the picture); repeatable")
    parser.add_argument("--json", action="store_true", help="print the readout as JSON (numbers, hex, shares)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from gentui.analysis.colours import (
        ColourError,
        parse_region,
        read_colours,
        readout_for_result,
    )
    from gentui.catalog.annotations import AnnotationError, resolve_results
    from gentui.catalog.db import CatalogError, open_catalog

    try:
        regions = [parse_region(r) for r in args.region]
        readout = None
        if settings.catalog_path.exists():
            catalog = open_catalog(settings.catalog_path, create=False)
            try:
                found = resolve_results(catalog, [args.result])
                readout = readout_for_result(catalog, int(found[0].id or 0), regions)
            except AnnotationError:
                readout = None
            finally:
                catalog.close()
        if readout is None:
            if not Path(args.result).expanduser().is_file():
                print(f"gentui colors: {args.result}: neither a result id in the catalog nor an image file",
                      file=sys.stderr)
                return 2
            readout = read_colours(Path(args.result).expanduser(), (), regions)
    except ColourError as e:
        print(f"gentui colors: {e}", file=sys.stderr)
        return 2 if "region" in str(e) else 1
    except CatalogError as e:
        print(f"gentui colors: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(readout.as_dict(), ensure_ascii=False, indent=2))
        return 0
    head = f"#{readout.result_id} " if readout.result_id is not None else ""
    print(f"{head}{readout.path}")
    for reg in readout.regions:
        who = f" ({reg.character})" if reg.character else ""
        print(f"{reg.slot}{who}: {reg.measured}")
        for c in reg.colours:
            print(f"  {c.share:>4.0%}  {c.name:<22} {c.hex}  (named colour {c.named_hex}, ΔE00 {c.delta_e:.1f})")
        if not reg.colours:
            print("  no colour covers 3% of the region")
    print(f"names: {readout.basis}. {readout.note}.")
    return 0
