"""Domain code never imports the UI: importing it in a fresh interpreter loads no textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import gentui

DOMAIN = ("catalog", "queue", "backends", "prompt", "analysis")


def _domain_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(gentui.__path__, "gentui."):
        if info.name.split(".")[1] in DOMAIN:
            names.append(info.name)
    return names


def test_domain_modules_do_not_import_textual():
    mods = _domain_modules()
    assert "gentui.catalog.db" in mods
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'gentui.tui')))\n"
        "print('\\n'.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"domain code pulled in the UI: {out.stdout}"
