"""Recording an attempt that finished: files first, then the catalog row, then `done`.

`done` means the image and its sidecar are on disk and indexed. The job is
`recording` meanwhile (the server has made the image; it is saved, not
cancelled). If the catalog stays locked, indexing is retried until
`RECORD_LIMIT_S`; then the job fails with the reason and the files are kept for
`gentui import`. A worker killed while recording leaves the job `recording`:
the next one collects it again from the server, or, when the server has
forgotten it, finishes it from the files already written. File writing and
indexing (Pillow thumbnails, SQLite) run in their own thread, so the worker's
event loop keeps following the next job meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gentui.backends.base import RunOutcome
from gentui.catalog.db import Catalog
from gentui.config import Settings
from gentui.queue.results import ResultWriteError, cleanup_outputs, write_results, written_for
from gentui.queue.store import Fence, JobRow, JobState

if TYPE_CHECKING:
    from gentui.queue.lane import Attempt

RECORD_LIMIT_S = 120.0
"""How long a finished job waits for a locked catalog before it fails (its files kept)."""
LOCK_RETRY_S = 0.5


class Recorder:
    """Turns finished attempts into results on disk, catalog rows and job states."""

    def __init__(self, worker: Any, settings: Settings, catalog: Catalog):
        self.worker = worker
        self.settings = settings
        self.catalog = catalog
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="gentui-results")

    async def record(self, a: Attempt, backend: str, outcome: RunOutcome, fence: Fence) -> None:
        """Record in the results thread; a cancelled caller does not stop (or corrupt) it."""
        loop = asyncio.get_running_loop()
        await asyncio.shield(loop.run_in_executor(self.pool, self._record_and_clean, a, backend, outcome, fence))

    def discard(self, outcome: RunOutcome) -> None:
        cleanup_outputs(outcome)

    async def drain(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, lambda: None)

    def _record_and_clean(self, a: Attempt, backend: str, outcome: RunOutcome, fence: Fence) -> None:
        try:
            self.record_sync(a, backend, outcome, fence)
        finally:
            cleanup_outputs(outcome)

    def record_sync(self, a: Attempt, backend: str, outcome: RunOutcome, fence: Fence) -> None:
        store = self.worker.store
        if not store.holds(a.job_id, a.prompt_id, (JobState.RECORDING,)):
            return  # cancelled meanwhile
        if not outcome.images:
            store.move_attempt("fail", a.job_id, a.prompt_id, fence,
                               error=f"backend {backend} finished but returned no image")
            return
        try:
            paths = write_results(self.settings.output_dir, a.job_id, a.sweep_id, a.label, a.params, outcome, backend)
        except ResultWriteError as e:
            store.move_attempt("fail", a.job_id, a.prompt_id, fence, error=str(e))
            return
        extra = self._compare_rerun(a, paths)
        try:
            ids = self._index(paths + extra)[: len(paths)]
        except _Unindexed as e:
            store.move_attempt("fail", a.job_id, a.prompt_id, fence, error=str(e))
            return
        # False only when our lease was taken over meanwhile: the new holder finds these files again.
        store.move_attempt("done", a.job_id, a.prompt_id, fence, result_ids=ids)

    async def finish(self, row: JobRow, fence: Fence) -> bool:
        """`finish_from_files` in the results thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.finish_from_files, row, fence)

    def _compare_rerun(self, a: Attempt, paths: list[Path]) -> list[Path]:
        """A rerun: compare with the original and note it in both sidecars (the original is indexed again)."""
        if not a.params.rerun_of or not paths:
            return []
        from gentui.catalog.sidecar import sidecar_path_for
        from gentui.queue.rerun import record_comparison

        try:
            found = record_comparison(paths[0], sidecar_path_for(paths[0]), a.params)
        except (OSError, ValueError) as e:
            self.worker.log(f"job {a.job_id}: could not compare the rerun with its original: {e}")
            return []
        original = Path(str(a.params.rerun_of.get("path", "")))
        return [original] if found is not None and original.is_file() else []

    def finish_from_files(self, row: JobRow, fence: Fence) -> bool:
        """A job left `recording` whose server forgot it: done from the files already written, if they are there."""
        paths = written_for(self.settings.output_dir, row.id, row.prompt_id or "", row.params, row.label)
        if not paths:
            return False
        try:
            ids = self._index(paths)
        except _Unindexed as e:
            return self.worker.store.move_attempt("fail", row.id, row.prompt_id or "", fence, error=str(e))
        return self.worker.store.move_attempt("done", row.id, row.prompt_id or "", fence, result_ids=ids)

    def _index(self, paths: list[Path]) -> list[int]:
        from gentui.catalog.importer import ImportFailed, index_image

        ids = []
        for path in paths:
            deadline = time.monotonic() + RECORD_LIMIT_S
            while True:
                try:
                    ids.append(index_image(self.catalog, path, self.settings.thumbnail_dir))
                    break
                except (ImportFailed, sqlite3.OperationalError) as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise _Unindexed(f"written to {path} but not indexed ({_reason(e)}); the files are kept: "
                                         f"run `gentui import {path.parent}` once the catalog can be written") from None
                    time.sleep(LOCK_RETRY_S)
        return ids

    def housekeep(self, backend: str) -> None:
        """Remove what a killed predecessor left half-done: partial downloads and temp files of this lane."""
        incoming = self.settings.output_dir / ".incoming" / backend
        if incoming.is_dir():
            for p in incoming.iterdir():
                if p.is_file():
                    p.unlink(missing_ok=True)


class _Unindexed(Exception):
    pass


def _reason(e: Exception) -> str:
    return getattr(e, "reason", None) or str(e)
