"""Quick, bounded health probes for the header line (called from a thread).

Each probe waits at most ~2 s and never raises: the header says `down` and
why is left to `gentui doctor`.
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


def backend_states(settings: Settings) -> tuple[tuple[str, str], ...]:
    """(label, `ready` / `down` / `off`) per configured backend."""
    out = []
    for name, b in settings.backends.items():
        if not b.enabled:
            out.append((name, "off"))
            continue
        if b.type == "mflux":
            out.append((f"{name} (mflux)", "ready" if shutil.which(b.command) else "down"))
            continue
        state = "down"
        try:
            from gentui.backends.connection import resolve_connection

            conn = resolve_connection(name, b)
            kwargs = conn.httpx_kwargs()
            kwargs["timeout"] = httpx.Timeout(PROBE_TIMEOUT_S)
            with httpx.Client(**kwargs) as client:
                r = client.get(conn.url("/system_stats"))
            state = "ready" if r.status_code == 200 else f"down {r.status_code}"
        except Exception:
            state = "down"
        out.append((_label(name, b.url), state))
    return tuple(out)


def ollama_state(settings: Settings) -> str:
    """`ready` when Ollama answers `/api/tags`, else `down`."""
    try:
        with httpx.Client(timeout=PROBE_TIMEOUT_S, trust_env=False) as client:
            r = client.get(settings.translate.resolved_host().rstrip("/") + "/api/tags")
        return "ready" if r.status_code == 200 else "down"
    except Exception:
        return "down"
