"""`gentui doctor`: what works, what does not, and the one-line fix for each problem.

Domain code: it gathers `Check`s and never renders them (commands/doctor_cmd.py
draws the table or prints JSON) and never imports textual.

Severity, and so the exit status: `error` is something gentui needs to do its
job and cannot: the default backend unreachable or refusing our credentials,
the default workflow's models missing on it, the catalog unusable, the output
folder not writable, or Ollama down while queued jobs wait for translation.
Everything else that is wrong is a `warn` (another backend down, Ollama down
with nothing to translate, a cascade model not pulled, little free disk).
"""

from __future__ import annotations

import asyncio
from typing import Any

from gentui.config import Settings
from gentui.doctor.backends import check_backend
from gentui.doctor.checks import ERROR, INFO, OK, WARN, Check, Report
from gentui.doctor.local import check_catalog, check_ollama, check_output_dir, check_terminal, detect_image_protocol

__all__ = ["ERROR", "INFO", "OK", "WARN", "Check", "Report", "detect_image_protocol", "run_doctor"]

CHECK_TIMEOUT_S = 15.0


async def run_doctor(settings: Settings, *, probe_terminal: bool = True) -> Report:
    """Run every check; backends and Ollama concurrently, each under a timeout."""
    catalog_checks, needs_translation = check_catalog(settings)
    backend_groups = await asyncio.gather(
        *(_guard(check_backend(name, settings), "backend", name) for name in settings.backends)
    )
    ollama = await _guard(check_ollama(settings, needs_translation), "ollama", "ollama")
    checks = [c for group in backend_groups for c in group]
    checks += ollama
    checks += catalog_checks
    checks += check_output_dir(settings)
    checks += check_terminal(settings, probe=probe_terminal)
    return Report(checks)


async def _guard(coro: Any, area: str, item: str) -> list[Check]:
    """A check that hangs or crashes becomes a line in the report, not a traceback."""
    try:
        return await asyncio.wait_for(coro, CHECK_TIMEOUT_S)
    except asyncio.TimeoutError:
        return [Check(area, item, WARN, f"no answer within {CHECK_TIMEOUT_S:g} s", "check the network path to it")]
    except Exception as e:  # noqa: BLE001 -- doctor must report, never crash
        return [Check(area, item, ERROR, f"the check itself failed: {type(e).__name__}: {e}",
                      "report this as a gentui bug")]  # fmt: skip
