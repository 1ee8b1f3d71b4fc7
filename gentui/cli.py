"""`gentui` command line: the subcommand table and dispatch.

Each subcommand lives in `gentui/commands/<name>.py` with `add_arguments(parser)`
and `run(args, settings) -> int`; modules are imported only when their command
runs, so `gentui --help` and the TUI start fast. With no subcommand, gentui opens
the TUI.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gentui import __version__
from gentui.config import ConfigError, load_settings

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "import": ("gentui.commands.import_cmd", "import images, sidecars, ComfyUI PNGs and mflux output into the catalog"),
    "query": ("gentui.commands.query_cmd", "search the catalog with the query language"),
    "tag": ("gentui.commands.tag_cmd", "annotate results: feature outcomes and free tags"),
    "sweep": ("gentui.commands.sweep_cmd", "queue a sweep (TOML file or flags) and follow it"),
    "worker": ("gentui.commands.worker_cmd", "run queued jobs, one at a time per backend"),
    "jobs": ("gentui.commands.jobs_cmd", "list and control jobs: cancel, interrupt, pause, resume, retry, front"),
    "sim": ("gentui.commands.sim_cmd", "run the ComfyUI simulator (a test double of a ComfyUI server)"),
    "translate": ("gentui.commands.translate_cmd", "translate a prompt through the Ollama cascade"),
    "doctor": ("gentui.commands.doctor_cmd", "check backends, Ollama, catalog, output dir and terminal"),
    "export": ("gentui.commands.export_cmd", "export result tables, bleed matrices and contact sheets"),
    "report": ("gentui.commands.report_cmd", "write-up tables, bleed rates, the operating line, the write-up document"),
    "colors": ("gentui.commands.colors_cmd", "name the dominant colours of each character's region of a result"),
    "rerun": ("gentui.commands.rerun_cmd", "run a result's exact job again and say whether the image matches"),
    "suggest": ("gentui.commands.suggest_cmd", "ask a vision model for suggested annotations; accept or reject them"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gentui",
        description="Run, browse and judge image-generation LoRA experiments. "
        "With no command, opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"gentui {__version__}")
    parser.add_argument("--config", metavar="PATH", help="config file (default: XDG config dir/gentui/config.toml)")
    parser.add_argument("--demo", action="store_true", help="start the ComfyUI simulator and a sample sweep in a demo catalog")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Find the subcommand first so only its module gets imported.
    top, rest = parser.parse_known_args(argv)
    if top.command is None:
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return _run_tui(top)
    module = importlib.import_module(COMMANDS[top.command][0])
    sub = argparse.ArgumentParser(prog=f"gentui {top.command}", description=COMMANDS[top.command][1])
    module.add_arguments(sub)
    idx = argv.index(top.command)
    args = sub.parse_args(argv[idx + 1 :])
    args.config = top.config
    try:
        settings = load_settings(top.config)
    except ConfigError as e:
        print(f"gentui: config error: {e}", file=sys.stderr)
        return 2
    try:
        return int(module.run(args, settings) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run_tui(top: argparse.Namespace) -> int:
    try:
        settings = load_settings(top.config)
    except ConfigError as e:
        print(f"gentui: config error: {e}", file=sys.stderr)
        return 2
    from gentui.tui.launch import run_app

    return run_app(settings, demo=top.demo)


if __name__ == "__main__":
    sys.exit(main())
