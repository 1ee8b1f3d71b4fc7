"""Domain code never imports the UI: importing it in a fresh interpreter loads no textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import gentui

DOMAIN = ("catalog", "queue", "backends", "prompt", "analysis", "simulator", "doctor", "params")


def _domain_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(gentui.__path__, "gentui."):
        if info.name.split(".")[1] in DOMAIN:  # gentui.params is a module, the others packages
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


def test_only_the_job_store_writes_sql_on_the_queue_tables():
    """One owner for the job tables: `gentui.queue.store` (models and migrations declare and upgrade them).

    Any statement on `job` counts; on `sweep` and `queue_control`, writes (the importer reads sweep ids).
    """
    import re
    from pathlib import Path

    root = Path(gentui.__file__).parent
    sql = re.compile(r"\b(FROM|UPDATE|INTO|JOIN)\s+(job|job_attempt)\b|\b(UPDATE|INTO|DELETE FROM)\s+(sweep|queue_control)\b"
                     r"|select\((Job|JobAttempt|QueueControl)\b")
    owners = {"queue/store.py", "catalog/models.py", "catalog/migrations.py"}
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel in owners:
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if sql.search(line):
                offenders.append(f"{rel}:{no}: {line.strip()}")
    assert offenders == [], "SQL on the queue tables outside the job store:\n" + "\n".join(offenders)
