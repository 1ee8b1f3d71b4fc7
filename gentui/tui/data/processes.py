"""Background processes the TUI starts but does not own: the queue worker, the demo simulator.

They are started detached (their own session, output to a log file), so closing
the TUI or losing the SSH connection leaves them running: the queue outlives
the terminal. A TUI that finds a live worker lease only attaches.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gentui.catalog.db import Catalog
from gentui.config import Settings

CLI = "import sys; from gentui.cli import main; sys.exit(main())"


def gentui_argv(settings: Settings, *args: str) -> list[str]:
    """The command line that runs `gentui ARGS` with the same Python and config file."""
    argv = [sys.executable, "-c", CLI]
    if settings.source is not None:
        argv += ["--config", str(settings.source)]
    return argv + list(args)


def spawn_detached(argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> int:
    """Start `argv` in its own session with output appended to `log_path`; returns the pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env, close_fds=True)
    return proc.pid


def live_backends(catalog: Catalog, settings: Settings) -> list[str]:
    """Enabled backends that a live worker holds the lease of."""
    from gentui.queue.lease import is_live, read_lease

    out = []
    for name, backend in settings.backends.items():
        if not backend.enabled:
            continue
        info = read_lease(catalog, name)
        if info is not None and is_live(info):
            out.append(name)
    return out


def ensure_worker(catalog: Catalog, settings: Settings, extra_args: tuple[str, ...] = ()) -> str:
    """Attach to a running worker, or start `gentui worker` detached; returns what happened."""
    enabled = [n for n, b in settings.backends.items() if b.enabled]
    live = live_backends(catalog, settings)
    if enabled and all(n in live for n in enabled):
        return f"attached to the worker of {', '.join(live)}"
    pid = spawn_detached(gentui_argv(settings, "worker", *extra_args), settings.log_dir / "worker.log", dict(os.environ))
    return f"started gentui worker (pid {pid}; log {settings.log_dir / 'worker.log'})"
