"""Translating a job's prompt just before it is sent, and keeping the result in the job.

Text that is already English (ASCII only) is sent as it is; anything else goes
through the Ollama cascade (cached, so a sweep never re-rolls its prompt).
When translation fails the job is not sent: it fails with the reason, the
user's text stays in the job, and `gentui jobs retry` sends it again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import text


class TranslationError(Exception):
    """The prompt could not be translated; the job was not sent."""


def needs_translation(prompt: str) -> bool:
    """Only text with non-ASCII letters (Japanese, accents) goes to the translator."""
    return any(ord(ch) > 127 and ch.isalpha() for ch in prompt or "")


async def translate_params(worker: Any, job_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """Fill `prompt_en` (and `translation`) and store them in the job row."""
    if params.get("prompt_en") is not None:
        return params
    source = params.get("prompt_src") or ""
    params = dict(params)
    if params.get("skip_translate"):
        params["prompt_en"] = source
        params["translation"] = {"skipped": "skip_translate"}
    elif not needs_translation(source):
        params["prompt_en"] = source
        params["translation"] = {"skipped": "already English"}
    else:
        params["prompt_en"], params["translation"] = await asyncio.to_thread(_translate, worker, source)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(worker.db_pool, _store, worker.catalog, job_id, params)
    return params


def _translate(worker: Any, source: str) -> tuple[str, dict[str, Any]]:
    try:
        from gentui.prompt.translate import TranslationFailed, Translator
    except ImportError as e:  # pragma: no cover - the translator ships with gentui
        raise TranslationError(f"translation failed: the translator is not available ({e})") from None

    try:
        result = Translator(worker.settings.translate, worker.catalog).translate(source)
    except TranslationFailed as e:
        raise TranslationError(
            f"translation failed: {e}. The job was not sent and its prompt is kept; "
            "retry it with `gentui jobs retry ID` once Ollama answers, or queue it with --skip-translate"
        ) from None
    record = {"model": getattr(result, "model", None), "rejected": list(getattr(result, "rejected", []) or []),
              "cached": bool(getattr(result, "cached", False))}
    return result.text, record


def _store(catalog: Any, job_id: int, params: dict[str, Any]) -> None:
    with catalog.engine.begin() as conn:
        conn.execute(text("UPDATE job SET params=:p WHERE id=:i"), {"p": json.dumps(params), "i": job_id})
