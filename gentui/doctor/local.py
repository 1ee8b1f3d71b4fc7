"""The doctor's checks of this machine: Ollama, the catalog, the output folder, the terminal."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from gentui.config import Settings
from gentui.doctor.checks import ERROR, INFO, OK, WARN, Check

LOW_DISK_BYTES = 2 * 1024**3


# -- Ollama -------------------------------------------------------------------------
def _model_key(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


async def list_ollama_models(host: str, timeout_s: float = 5.0) -> list[str]:
    """Names of the models pulled on an Ollama server (`GET /api/tags`)."""
    import ollama

    client = ollama.AsyncClient(host=host, timeout=timeout_s)
    reply = await client.list()
    return [m.model for m in reply.models if m.model]


async def check_ollama(settings: Settings, needs_translation: int) -> list[Check]:
    host = settings.translate.resolved_host()
    cascade = settings.translate.models
    severity = ERROR if needs_translation else WARN
    try:
        pulled = await list_ollama_models(host, min(settings.translate.timeout_s, 5.0))
    except Exception as e:  # noqa: BLE001 -- ConnectionError, httpx errors, ResponseError
        why = "connection failed" if isinstance(e, ConnectionError) else (
            f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        waiting = f"; {needs_translation} queued job(s) need translation" if needs_translation else \
            " (only needed for prompts that are not already English; skip_translate works without it)"
        return [Check("ollama", host, severity, f"not reachable ({why}){waiting}",
                      "start Ollama (`ollama serve`) or set [translate] host / OLLAMA_HOST to where it runs")]  # fmt: skip
    keys = {_model_key(m) for m in pulled}
    checks = [Check("ollama", host, OK, f"reachable, {len(pulled)} model(s) pulled", details={"pulled": pulled})]
    present = [m for m in cascade if _model_key(m) in keys]
    for m in cascade:
        if m in present:
            checks.append(Check("ollama", f"model {m}", OK, "pulled (in the translation cascade)"))
        else:
            checks.append(Check("ollama", f"model {m}", WARN, "not pulled: the cascade will skip it",
                                f"ollama pull {m}"))  # fmt: skip
    if not present:
        checks.append(Check("ollama", "cascade", severity, "none of the cascade's models is pulled",
                            f"ollama pull {cascade[0]}, or list pulled models in [translate] models"))  # fmt: skip
    return checks


# -- catalog -------------------------------------------------------------------------
def check_catalog(settings: Settings) -> tuple[list[Check], int]:
    """(checks, number of queued jobs that still need translation)."""
    from sqlalchemy import text

    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.queue.store import JobStore

    path = settings.catalog_path
    if not path.exists():
        parent = _existing_parent(path)
        if parent is not None and os.access(parent, os.W_OK):
            return [Check("catalog", str(path), INFO, "not created yet; gentui creates it on first use")], 0
        return [Check("catalog", str(path), ERROR, f"does not exist and {parent} is not writable",
                      "set [paths] catalog (or data_dir) to a writable place")], 0  # fmt: skip
    try:
        catalog = open_catalog(path, create=False)
    except CatalogError as e:
        return [Check("catalog", str(path), ERROR, str(e),
                      "move the file aside and run `gentui import --rebuild` on your output folder "
                      "(the sidecars hold everything)")], 0  # fmt: skip
    store = JobStore(catalog)
    try:
        with catalog.engine.connect() as conn:
            results = conn.execute(text("SELECT COUNT(*) FROM result")).scalar() or 0
        states = store.counts()
        waiting = store.waiting_for_translation()
        version = catalog.schema_version()
    except Exception as e:  # noqa: BLE001 -- sqlite errors of every kind
        return [Check("catalog", str(path), ERROR, f"cannot be read: {e}",
                      "move the file aside and run `gentui import --rebuild` on your output folder")], 0  # fmt: skip
    finally:
        store.close()
        catalog.close()
    size = path.stat().st_size
    jobs = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no jobs"
    summary = f"schema v{version}, {_human(size)}, {results} result(s); jobs: {jobs}"
    details = {"schema_version": version, "size_bytes": size, "results": results, "jobs": states,
               "queued_need_translation": waiting}  # fmt: skip
    return [Check("catalog", str(path), OK, summary, details=details)], int(waiting)


# -- output folder -------------------------------------------------------------------
def check_output_dir(settings: Settings) -> list[Check]:
    path = settings.output_dir
    target = path if path.exists() else _existing_parent(path)
    fix = f"make {path} writable (chmod u+w) or set [paths] output_dir to a writable folder"
    if target is None:
        return [Check("output", str(path), ERROR, "neither it nor any parent exists", fix)]
    if path.exists() and not path.is_dir():
        return [Check("output", str(path), ERROR, "is a file, not a folder", fix)]
    try:
        fd, probe = tempfile.mkstemp(prefix=".gentui-doctor-", dir=target)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return [Check("output", str(path), ERROR, f"not writable: {e.strerror or e}", fix)]
    free = shutil.disk_usage(target).free
    note = "" if path.exists() else " (will be created)"
    checks = [Check("output", str(path), OK, f"writable{note}", details={"free_bytes": free})]
    if free < LOW_DISK_BYTES:
        checks.append(Check("output", "free space", WARN, f"only {_human(free)} free",
                            "free some disk space or move [paths] output_dir"))  # fmt: skip
    else:
        checks.append(Check("output", "free space", OK, f"{_human(free)} free"))
    return checks


# -- terminal -----------------------------------------------------------------------
PROTOCOL_NAMES = {"sixel": "sixel", "tgp": "kitty", "halfcell": "halfblock", "unicode": "unicode"}
"""textual-image renderable module -> the name `[tui] image_protocol` uses."""


def detect_image_protocol() -> tuple[str, str]:
    """(protocol, note) as textual-image decides it; importing it probes the terminal.

    Guarded: a pty reporting 0 columns makes textual-image raise ZeroDivisionError.
    """
    try:
        from textual_image import renderable
    except Exception as e:  # noqa: BLE001
        return "halfblock", f"textual-image could not probe this terminal ({type(e).__name__}: {e})"
    module = renderable.Image.__module__.rsplit(".", 1)[-1]
    return PROTOCOL_NAMES.get(module, module), ""


def check_terminal(settings: Settings, *, probe: bool = True) -> list[Check]:
    env = {k: os.environ.get(k, "") for k in ("TERM", "TERM_PROGRAM", "TMUX", "COLORTERM")}
    configured = settings.tui.image_protocol
    tty = bool(sys.stdout and sys.stdout.isatty())
    if probe and tty:
        detected, note = detect_image_protocol()
    else:
        detected, note = "unicode", "stdout is not a terminal, so nothing was probed"
    details = {**env, "image_protocol_setting": configured, "detected": detected, "tty": tty}
    where = f"TERM={env['TERM'] or '-'}" + (" inside tmux" if env["TMUX"] else "")
    summary = f"{where}; detected {detected}; [tui] image_protocol = {configured}"
    if note:
        summary += f" ({note})"
    fix = ""
    status = OK
    if env["TMUX"]:
        status = INFO
        fix = ("inside tmux Kitty graphics do not pass through and Sixel needs `tmux set -g allow-passthrough on`; "
               "half-blocks always work")
    if tty and probe and configured in ("kitty", "sixel") and detected != configured:
        status = WARN
        fix = f"this terminal did not answer the {configured} probe; set [tui] image_protocol = \"auto\" or \"halfblock\""
    return [Check("terminal", "images", status, summary, fix, details)]


# -- helpers -------------------------------------------------------------------------
def _existing_parent(path: Path) -> Path | None:
    for p in [path, *path.parents]:
        if p.exists():
            return p
    return None


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
