"""Quick, bounded health probes for the header line (called from a thread).

Each probe waits at most ~2 s and never raises: the header says `down`, and
the queue panel shows the last error (secrets redacted) so a user knows why
jobs are waiting; `gentui doctor` gives the full story and the fix.
"""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import httpx

from gentui.config import Settings

PROBE_TIMEOUT_S = 2.0


def _label(name: str, url: str) -> str:
    host = urlsplit(url).netloc.rsplit("@", 1)[-1]
    return f"{name}@{host}" if host else name


def backend_states(settings: Settings) -> tuple[tuple[str, str, str], ...]:
    """(label, `ready` / `down` / `off`, last error or "") per configured backend."""
    out = []
    for name, b in settings.backends.items():
        if not b.enabled:
            out.append((name, "off", ""))
            continue
        if b.type == "mflux":
            found = shutil.which(b.command)
            out.append((f"{name} (mflux)", "ready" if found else "down",
                        "" if found else f"{b.command} not found on PATH"))
            continue
        state, detail = "down", ""
        conn = None
        try:
            from gentui.backends.connection import resolve_connection

            conn = resolve_connection(name, b)
            kwargs = conn.httpx_kwargs()
            kwargs["timeout"] = httpx.Timeout(PROBE_TIMEOUT_S)
            with httpx.Client(**kwargs) as client:
                r = client.get(conn.url("/system_stats"))
            if r.status_code == 200:
                state = "ready"
            else:
                state = f"down {r.status_code}"
                detail = f"HTTP {r.status_code}" + (
                    f": credentials refused, check backends.{name} username/password/headers"
                    if r.status_code in (401, 403) else "")
        except Exception as e:  # any failure is a state to show, never a crash
            detail = f"{e.__class__.__name__}: {e}" if str(e) else e.__class__.__name__
            if conn is not None:
                detail = conn.redact(detail)
        out.append((_label(name, b.url), state, detail))
    return tuple(out)


def ollama_state(settings: Settings) -> str:
    """`ready` when Ollama answers `/api/tags`, else `down`."""
    try:
        with httpx.Client(timeout=PROBE_TIMEOUT_S, trust_env=False) as client:
            r = client.get(settings.translate.resolved_host().rstrip("/") + "/api/tags")
        return "ready" if r.status_code == 200 else "down"
    except Exception:
        return "down"
