"""Reading one image + its sidecars into catalog rows: the part that runs in worker processes.

Everything here is file work and CPU (read, hash, decode, thumbnail, parse,
normalise) and returns plain picklable tuples, so `importer` can run it in a
process pool and keep SQLite writes in one process. Nothing here touches the
database. Sources are merged with the sidecar winning: ComfyUI PNG chunks or
mflux metadata fill only what the sidecar does not say.
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime
from typing import Any

from gentui.catalog.comfy_png import (
    PngTextError,
    png_text_chunks,
    sidecar_from_png_text,
)
from gentui.catalog.mflux_meta import sidecar_from_mflux
from gentui.catalog.normalize import RESULT_COLUMNS, clean_text, normalize_sidecar
from gentui.catalog.scan import Candidate, readable
from gentui.catalog.sidecar import SidecarError, read_sidecar
from gentui.catalog.thumbnails import (
    ThumbnailError,
    thumb_file,
    tune_for_bulk,
    verify_image,
    write_thumbnail,
)

_MADE_DIRS: set[str] = set()
GENERATION_KEYS = frozenset({"seed", "model", "prompt_en", "steps", "workflow_api", "checkpoint", "unet"})
ROW_COLUMNS = ("path", "sidecar_path", "sha256", "file_size", "file_mtime_ns", "sidecar_size",
               "sidecar_mtime_ns", "thumb", "source_format", *RESULT_COLUMNS)
"""Every result column the importer writes, in the order of `Prepared.values_row`."""


def db_time(dt: datetime | None) -> str:
    """The text SQLAlchemy's SQLite DateTime type stores and reads back (UTC, no zone)."""
    dt = (dt or datetime.now(UTC)).astimezone(UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


class Prepared:
    """Rows for one image, ready to write: result columns (a dict) and child rows (tuples).

    `row_values()` gives the result columns in ROW_COLUMNS order with the time
    already as database text, so the writing process does as little as possible.
    """

    __slots__ = ("annotations", "characters", "path", "problems", "row", "tags", "values")

    def __init__(self, path: str, row: dict[str, Any], characters: list[tuple], annotations: list[tuple],
                 tags: list[str], values: list[tuple], problems: list[str]):
        self.path = path
        self.row = row
        self.characters = characters
        self.annotations = annotations
        self.tags = tags
        self.values = values
        self.problems = problems

    def row_values(self) -> list[Any]:
        vals = [self.row.get(c) for c in ROW_COLUMNS]
        at = ROW_COLUMNS.index("created_at")
        if not isinstance(vals[at], str):
            vals[at] = db_time(vals[at])
        return vals

    def __getstate__(self) -> tuple:
        return tuple(getattr(self, s) for s in self.__slots__)

    def __setstate__(self, state: tuple) -> None:
        for s, v in zip(self.__slots__, state):
            setattr(self, s, v)


def _image_size(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG"):
        try:
            return png_text_chunks(data)[1]
        except PngTextError:
            return None
    try:
        from PIL import Image

        return Image.open(io.BytesIO(data)).size
    except Exception:  # noqa: BLE001 - any header problem just means "size unknown"
        return None


def prepare(c: Candidate, thumbnail_dir: str | None) -> Prepared | tuple[str, str]:
    """Read and parse one candidate: a Prepared, or (readable path, reason) when it cannot be used."""
    try:
        return _prepare(c, thumbnail_dir)
    except (SidecarError, PngTextError, ThumbnailError) as e:
        return readable(c.image), str(e)
    except OSError as e:
        return readable(c.image), f"cannot read: {e.strerror or e}"
    except RecursionError:
        return readable(c.image), "metadata nested too deeply to read"


def _prepare(c: Candidate, thumbnail_dir: str | None) -> Prepared:
    with open(c.image, "rb") as f:
        data = f.read()
    key = hashlib.sha256(data).hexdigest()
    size: tuple[int, int] | None = None
    if thumbnail_dir is not None:
        if not os.path.exists(thumb_file(thumbnail_dir, key)):
            write_thumbnail(thumbnail_dir, key, data, _MADE_DIRS)
    else:
        size = verify_image(data)
    problems: list[str] = []
    sidecar: dict[str, Any] | None = None
    base: dict[str, Any] = {}
    source = "image"
    if c.sidecar:
        sidecar = read_sidecar(c.sidecar)
        source = "sidecar"
    if c.meta:
        try:
            base = sidecar_from_mflux(read_sidecar(c.meta))
            source = "mflux" if sidecar is None else source
        except SidecarError as e:
            if sidecar is None:
                raise
            problems.append(f"mflux metadata ignored: {e}")
    # A sidecar gentui made only to hold annotations of a ComfyUI PNG says nothing about how
    # the image was made: read the PNG's graph too (the sidecar still wins key by key).
    bare = sidecar is None or not (GENERATION_KEYS & sidecar.keys())
    if bare and not base and data.startswith(b"\x89PNG"):
        texts, size = png_text_chunks(data)
        comfy, more = sidecar_from_png_text(texts)
        problems.extend(more)
        if comfy is not None:
            base = comfy
            source = "comfyui_png" if sidecar is None else "comfyui_png+sidecar"
    merged = {**base, **sidecar} if sidecar is not None else base
    norm = normalize_sidecar(merged, readable(c.main_sidecar or c.image))
    problems.extend(norm.problems)
    row = {k: norm.fields.get(k) for k in RESULT_COLUMNS}
    if row["width"] is None or row["height"] is None:
        size = size or _image_size(data)
        if size:
            row["width"], row["height"] = size
    if row["created_at"] is None:
        row["created_at"] = datetime.fromtimestamp(c.mtime_ns / 1e9, UTC)
    row["created_at"] = db_time(row["created_at"])
    if row["status"] is None:
        row["status"] = "done"
    row.update(path=c.image, sidecar_path=c.main_sidecar, sha256=key, file_size=c.size,
               file_mtime_ns=c.mtime_ns, sidecar_size=c.side_size, sidecar_mtime_ns=c.side_mtime_ns,
               thumb=key if thumbnail_dir is not None else None, source_format=source)
    chars = [(ch.idx, ch.slot or "", ch.name, ch.identity, ch.lora_trigger, ch.position, ch.appearance,
              bool(ch.has_trigger)) for ch in norm.characters]
    anns = [(a["slot"], a["feature"], a["outcome"], a["target"], a["color"], a["note"], a["author"],
             db_time(a["created_at"])) for a in norm.annotations]
    return Prepared(c.image, row, chars, anns, norm.tags, norm.values, [clean_text(p) for p in problems])


def prepare_many(items: list[Candidate], thumbnail_dir: str | None) -> list[Prepared | tuple[str, str]]:
    """A chunk of candidates (one pool task: fewer, larger messages between processes)."""
    return [prepare(c, thumbnail_dir) for c in items]


def pool_init() -> None:
    """Worker start: leave the terminal's Ctrl-C to the parent, which stops the pool."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_for_bulk()
    _keep_freed_memory()
    os.environ.setdefault("GENTUI_IMPORT_WORKER", "1")


def _keep_freed_memory() -> None:
    """glibc: serve the ~2 MB decode buffers from the heap and never hand freed memory back.

    By default glibc returns the freed top of the heap to the kernel as soon as
    two such buffers are free, so every image's buffers are page-faulted in anew
    (~1,100 faults, ~4 ms of system time per 888x768 PNG measured here). The
    pool's workers are short-lived, so keeping their memory costs nothing.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD: buffers below 32 MB from the heap
        libc.mallopt(-1, 256 * 1024 * 1024)  # M_TRIM_THRESHOLD: trim only past 256 MB free
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass
