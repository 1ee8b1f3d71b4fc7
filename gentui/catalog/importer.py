"""Import images and sidecars into the catalog: `gentui import`, the worker and rebuilds.

One code path for everything: `scan` finds image + sidecar pairs, `prepare`
reads them (in a 2-process pool for large imports: hashing, thumbnails and JSON
are CPU work), and this module writes rows in batches, one transaction per
batch, through the raw SQLite connection (no ORM objects on the hot path).

Idempotent: a result is keyed by its image path. A pair whose image and sidecar
sizes and mtimes are unchanged is skipped without being read; a changed one has
its row updated in place (its id is kept, so jobs still point at it) and its
characters, annotations, tags and field rows replaced. A file that cannot be
read is reported and leaves its existing row alone.

`rebuild=True` re-reads every pair under the given paths whatever the stats say
(so the index is recreated from the sidecars) and drops rows under those folders
whose image is gone. Sweeps, jobs and the translation cache are never touched.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gentui.catalog.db import Catalog
from gentui.catalog.prepare import (
    ROW_COLUMNS,
    Prepared,
    pool_init,
    prepare,
    prepare_many,
)
from gentui.catalog.scan import Candidate, make_candidate, readable, scan
from gentui.catalog.thumbnails import thumb_file

BATCH = 500
CHUNK = 64
POOL_MIN = 200
WORKERS = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2))
"""One decode process per usable core (the main process only writes SQLite: ~0.3 ms per pair)."""
ProgressFn = Callable[[int, int], None]

_UPSERT = (
    f"INSERT INTO result ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' for _ in ROW_COLUMNS)}) "
    f"ON CONFLICT(path) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in ROW_COLUMNS if c != 'path')} "
    "RETURNING id"
)
_CHILD_TABLES = ("character", "annotation", "tag", "field_value")


class ImportFailed(Exception):
    """One image could not be indexed; `.path` and `.reason` say which and why."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class ImportReport:
    """What an import did. `failed` and `warnings` hold (readable path, reason)."""

    imported: int = 0
    updated: int = 0
    skipped: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "updated": self.updated, "skipped": self.skipped,
                "removed": self.removed, "elapsed_s": round(self.elapsed_s, 3),
                "failed": [{"path": p, "reason": r} for p, r in self.failed],
                "warnings": [{"path": p, "reason": r} for p, r in self.warnings]}


class _Writer:
    """Batched writes on one raw SQLite connection; one transaction per batch."""

    def __init__(self, catalog: Catalog):
        self.raw = catalog.engine.raw_connection()
        self.con = self.raw.driver_connection
        self.sweeps: dict[str, int | None] = {}

    def close(self) -> None:
        self.raw.close()

    def existing(self, paths: list[str]) -> dict[str, tuple]:
        """path -> (id, file_size, file_mtime_ns, sidecar_path, sidecar_size, sidecar_mtime_ns, thumb)."""
        out: dict[str, tuple] = {}
        for i in range(0, len(paths), 500):
            part = paths[i : i + 500]
            q = ("SELECT path, id, file_size, file_mtime_ns, sidecar_path, sidecar_size, sidecar_mtime_ns, thumb "
                 f"FROM result WHERE path IN ({','.join('?' for _ in part)})")
            for row in self.con.execute(q, part):
                out[row[0]] = row[1:]
        self.con.commit()
        return out

    def _sweep_id(self, name: str) -> int | None:
        if name not in self.sweeps:
            row = self.con.execute("SELECT id FROM sweep WHERE name=?", (name,)).fetchone()
            self.sweeps[name] = row[0] if row else None
        return self.sweeps[name]

    def _write_rows(self, batch: list[Prepared], known: set[str]) -> dict[str, int]:
        """Upsert the result rows one by one (for their ids), then each child table in one executemany."""
        con = self.con
        ids: dict[str, int] = {}
        chars, anns, tags, values, stale = [], [], [], [], []
        for p in batch:
            row = p.row
            if row.get("sweep_id") is None and row.get("sweep_name"):
                row["sweep_id"] = self._sweep_id(row["sweep_name"])
            vals = p.row_values()
            rid = con.execute(_UPSERT, vals).fetchall()[0][0]
            ids[p.path] = rid
            if p.path in known:
                stale.append((rid,))
            chars.extend((rid, *c) for c in p.characters)
            anns.extend((rid, *a) for a in p.annotations)
            tags.extend((t, rid) for t in p.tags)
            values.extend((rid, *v) for v in p.values)
        if stale:
            for t in _CHILD_TABLES:
                con.executemany(f"DELETE FROM {t} WHERE result_id=?", stale)
        if chars:
            con.executemany("INSERT INTO character (result_id, idx, slot, name, identity, lora_trigger, position, "
                            "appearance, has_trigger) VALUES (?,?,?,?,?,?,?,?,?)", chars)
        if anns:
            con.executemany("INSERT INTO annotation (result_id, slot, feature, outcome, target, color, note, author, "
                            "created_at) VALUES (?,?,?,?,?,?,?,?,?)", anns)
        if tags:
            con.executemany("INSERT OR IGNORE INTO tag (tag, result_id) VALUES (?,?)", tags)
        if values:
            con.executemany("INSERT INTO field_value (result_id, key, num, text) VALUES (?,?,?,?)", values)
        return ids

    def write(self, batch: list[Prepared], known: set[str], report: ImportReport | None) -> dict[str, int]:
        """Write a batch in one transaction; if it fails, retry one by one so one bad row fails alone."""
        ids: dict[str, int] = {}
        try:
            self.con.execute("BEGIN IMMEDIATE")
            ids = self._write_rows(batch, known)
            self.con.commit()
        except Exception:
            self.con.rollback()
            if len(batch) == 1:
                raise
            ids = {}
            for p in batch:
                try:
                    ids.update(self.write([p], known, None))
                except Exception as e:
                    if report is None:
                        raise
                    report.failed.append((readable(p.path), f"cannot write to the catalog: {e}"))
        if report is not None:
            for p in batch:
                if p.path in ids:
                    if p.path in known:
                        report.updated += 1
                    else:
                        report.imported += 1
                    report.warnings.extend((readable(p.path), w) for w in p.problems)
        return ids

    def prune(self, roots: list[str], seen: set[str]) -> int:
        """Delete rows under `roots` whose image was not found by this walk (their files are gone)."""
        gone: list[int] = []
        for root in roots:
            prefix = root.rstrip(os.sep) + os.sep
            like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            for rid, path in self.con.execute("SELECT id, path FROM result WHERE path LIKE ? ESCAPE '\\'", (like,)):
                if path not in seen and not os.path.exists(path):
                    gone.append(rid)
        self.con.commit()
        if gone:
            self.con.execute("BEGIN IMMEDIATE")
            self.con.executemany("DELETE FROM result WHERE id=?", [(i,) for i in gone])
            self.con.commit()
        return len(gone)


def _unchanged(c: Candidate, row: tuple | None, thumb_dir: str | None) -> bool:
    """Same sizes and mtimes as when indexed (and its thumbnail still there, if wanted)."""
    if row is None:
        return False
    _id, size, mtime, side_path, side_size, side_mtime, thumb = row
    if thumb_dir is not None and (thumb is None or not os.path.exists(thumb_file(thumb_dir, thumb))):
        return False
    return (size == c.size and mtime == c.mtime_ns and side_path == c.main_sidecar
            and side_size == c.side_size and side_mtime == c.side_mtime_ns)


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork is cheapest, but forking a process with other threads (a TUI) is unsafe.
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")


def _prepared_stream(todo: list[Candidate], thumb: str | None) -> Iterator[list[Prepared | tuple[str, str]]]:
    if len(todo) < POOL_MIN:
        for i in range(0, len(todo), CHUNK):
            yield prepare_many(todo[i : i + CHUNK], thumb)
        return
    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    with _mp_context().Pool(WORKERS, initializer=pool_init) as pool:
        yield from pool.imap_unordered(_task, [(ch, thumb) for ch in chunks])


def _task(args: tuple[list[Candidate], str | None]) -> list[Prepared | tuple[str, str]]:
    return prepare_many(*args)


def import_paths(catalog: Catalog, paths: list[str | Path], thumbnail_dir: str | Path | None,
                 progress: ProgressFn | None = None, rebuild: bool = False) -> ImportReport:
    """Import every image (with sidecars) under `paths` into the catalog.

    Args:
        catalog: an open catalog.
        paths: image files, sidecar files or folders (walked recursively).
        thumbnail_dir: where thumbnails are cached; None makes none (images are still decoded
            to check they are whole).
        progress: called as `progress(done, total)` while pairs are processed.
        rebuild: re-read every pair even when unchanged, and drop rows under the given folders
            whose image no longer exists.
    """
    t0 = time.perf_counter()
    report = ImportReport()
    thumb = os.fspath(thumbnail_dir) if thumbnail_dir is not None else None
    found = scan([os.fspath(p) for p in paths], skip_dirs=(thumb,) if thumb else ())
    report.failed.extend(found.failures)
    report.warnings.extend(found.warnings)
    writer = _Writer(catalog)
    try:
        existing = writer.existing([c.image for c in found.candidates])
        known = set(existing)
        todo = []
        for c in found.candidates:
            if not rebuild and _unchanged(c, existing.get(c.image), thumb):
                report.skipped += 1
            else:
                todo.append(c)
        total, done = len(todo), 0
        if progress:
            progress(0, total)
        batch: list[Prepared] = []
        for chunk in _prepared_stream(todo, thumb):
            for p in chunk:
                if isinstance(p, Prepared):
                    batch.append(p)
                else:
                    report.failed.append(p)
            if len(batch) >= BATCH:
                writer.write(batch, known, report)
                batch = []
            done += len(chunk)
            if progress:
                progress(done, total)
        if batch:
            writer.write(batch, known, report)
        if rebuild and found.roots:
            report.removed = writer.prune(found.roots, {c.image for c in found.candidates})
    finally:
        writer.close()
    report.elapsed_s = time.perf_counter() - t0
    return report


def index_image(catalog: Catalog, image_path: str | Path, thumbnail_dir: str | Path | None) -> int:
    """Index one image and its sidecar now (the worker calls this after writing them); returns its id.

    Raises:
        ImportFailed: the image or its sidecar cannot be read; the catalog is unchanged.
    """
    cand, why = make_candidate(os.path.abspath(os.fspath(image_path)))
    if cand is None:
        raise ImportFailed(readable(os.path.abspath(os.fspath(image_path))), why or "unusable")
    path = cand.image
    p = prepare(cand, os.fspath(thumbnail_dir) if thumbnail_dir is not None else None)
    if not isinstance(p, Prepared):
        raise ImportFailed(*p)
    writer = _Writer(catalog)
    try:
        known = set(writer.existing([path]))
        try:
            ids = writer.write([p], known, None)
        except Exception as e:  # noqa: BLE001
            raise ImportFailed(readable(path), f"cannot write to the catalog: {e}") from None
    finally:
        writer.close()
    return ids[path]
