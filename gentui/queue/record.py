"""Recording a job's outcome: files first, then the catalog row, then the job's state.

File writing and indexing (Pillow thumbnails, SQLite) run in their own thread
so the worker's event loop keeps following the next job meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text

from gentui.backends.base import RunOutcome
from gentui.catalog.db import Catalog
from gentui.config import Settings
from gentui.params import JobParams
from gentui.queue.jobs import now_text
from gentui.queue.results import ResultWriteError, cleanup_outputs, write_results


class Recorder:
    """Turns RunOutcomes into results on disk, catalog rows and job states."""

    def __init__(self, worker: Any, settings: Settings, catalog: Catalog):
        self.worker = worker
        self.settings = settings
        self.catalog = catalog
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="gentui-results")

    async def record(self, job_id: int, backend: str, outcome: RunOutcome) -> None:
        """Record in the results thread; a cancelled caller does not stop (or corrupt) it."""
        loop = asyncio.get_running_loop()
        await asyncio.shield(loop.run_in_executor(self.pool, self._record_and_clean, job_id, backend, outcome))

    def _record_and_clean(self, job_id: int, backend: str, outcome: RunOutcome) -> None:
        try:
            self.record_sync(job_id, backend, outcome)
        finally:
            cleanup_outputs(outcome)

    async def drain(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, lambda: None)

    def _exec(self, sql: str, **params: Any) -> int:
        with self.catalog.engine.begin() as conn:
            return conn.execute(text(sql), params).rowcount

    def record_sync(self, job_id: int, backend: str, outcome: RunOutcome) -> None:
        now = now_text()
        if outcome.status == "done":
            if not outcome.images:
                self._finish(job_id, "failed", f"backend {backend} finished but returned no image", now)
                return
            try:
                ids = self.write(job_id, backend, outcome)
            except ResultWriteError as e:
                self._finish(job_id, "failed", str(e), now)
                return
            self._exec("UPDATE job SET state='done', result_ids=:r, error=NULL, step=CASE WHEN total>0 THEN total "
                       "ELSE step END, started_at=COALESCE(started_at, submitted_at), finished_at=:now, updated_at=:now "
                       "WHERE id=:i AND state IN ('submitted','running','cancelled')",
                       r=json.dumps(ids), now=now, i=job_id)
        elif outcome.status == "interrupted":
            self._finish(job_id, "interrupted", outcome.error or "interrupted", now)
        else:
            self._finish(job_id, "failed", outcome.error or "failed on the backend", now)

    def _finish(self, job_id: int, state: str, error: str, now: str) -> None:
        self._exec("UPDATE job SET state=:s, error=:e, finished_at=:now, updated_at=:now "
                   "WHERE id=:i AND state IN ('submitted','running')", s=state, e=error[:4000], now=now, i=job_id)

    def write(self, job_id: int, backend: str, outcome: RunOutcome) -> list[int]:
        with self.catalog.engine.connect() as conn:
            row = conn.execute(text("SELECT params, label, sweep_id FROM job WHERE id=:i"), {"i": job_id}).first()
        params = JobParams.from_json(row[0] or {})
        paths = write_results(self.settings.output_dir, job_id, row[2], row[1] or "", params, outcome, backend)
        from gentui.catalog.importer import index_image

        ids = []
        for path in paths:
            try:
                ids.append(index_image(self.catalog, path, self.settings.thumbnail_dir))
            except Exception as e:  # noqa: BLE001 - the files are the truth; `gentui import` can index later
                self.worker.log(f"job {job_id}: written to {path} but not indexed ({e}); run `gentui import {path}`")
        return ids
