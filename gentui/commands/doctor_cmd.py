"""`gentui doctor`: a table of every check (or JSON); exit status 1 when something needed is missing."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from gentui.config import Settings

STYLE = {"ok": "green", "info": "cyan", "warn": "yellow", "error": "bold red"}
MARK = {"ok": "ok", "info": "info", "warn": "WARN", "error": "ERROR"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--no-terminal-probe", action="store_true",
                        help="do not query the terminal for its image protocol (textual-image probes it)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.doctor import run_doctor

    report = asyncio.run(run_doctor(settings, probe_terminal=not args.no_terminal_probe and not args.json))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return report.exit_status
    render(report)
    return report.exit_status


def render(report) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    table = Table(title="gentui doctor", title_justify="left", show_lines=True)
    table.add_column("check", style="bold", overflow="fold", max_width=32)
    table.add_column("status", no_wrap=True)
    table.add_column("what we found / fix", overflow="fold")
    for c in report.checks:
        found = Text(c.summary)
        if c.fix:
            found.append("\nfix: ", style="bold yellow")
            found.append(c.fix)
        table.add_row(Text(f"{c.area}: {c.item}"), Text(MARK[c.status], style=STYLE[c.status]), found)
    console.print(table)
    errors = sum(c.status == "error" for c in report.checks)
    warns = sum(c.status == "warn" for c in report.checks)
    if errors:
        console.print(f"[bold red]{errors} problem(s) stop gentui from working[/]; {warns} warning(s).")
    elif warns:
        console.print(f"[green]everything needed works[/]; {warns} warning(s).")
    else:
        console.print("[green]everything works[/].")
    sys.stdout.flush()
