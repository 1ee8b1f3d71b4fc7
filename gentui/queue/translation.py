"""Translating a job's prompt just before it is sent, and keeping the result in the job.

The prompts area's Translator decides: `skip_translate` and text without
Japanese are sent as written; anything else goes through the Ollama cascade
(cached, so a sweep never re-rolls its prompt). When translation fails the job
is not sent: it fails with the reason, the user's text stays in the job, and
`gentui jobs retry` sends it again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import text

from gentui.params import JobParams


class TranslationError(Exception):
    """The prompt could not be translated; the job was not sent."""


async def translate_params(worker: Any, job_id: int, params: JobParams) -> JobParams:
    """Fill `prompt_en` and `translation` and store them in the job row."""
    if params.prompt_en is not None and params.translation is not None:
        return params
    text_en, record = await asyncio.to_thread(_translate, worker, params.prompt_src or "", params.skip_translate)
    params = params.with_(prompt_en=text_en, translation=record)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(worker.db_pool, _store, worker.catalog, job_id, params)
    return params


def _translate(worker: Any, source: str, skip: bool) -> tuple[str, dict[str, Any]]:
    from gentui.prompt.translate import TranslationFailed, Translator

    try:
        result = Translator(worker.settings.translate, worker.catalog).translate(source, skip=skip)
    except TranslationFailed as e:
        raise TranslationError(
            f"translation failed: {e}. The job was not sent and its prompt is kept; "
            "retry it with `gentui jobs retry ID` once Ollama answers, or queue it with --skip-translate"
        ) from None
    return result.text, result.to_sidecar()


def _store(catalog: Any, job_id: int, params: JobParams) -> None:
    with catalog.engine.begin() as conn:
        conn.execute(text("UPDATE job SET params=:p WHERE id=:i"), {"p": json.dumps(params.to_json()), "i": job_id})
