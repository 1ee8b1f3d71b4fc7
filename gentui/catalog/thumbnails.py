"""Thumbnails: small JPEGs cached by the sha256 of the image bytes.

Keyed by content, not by path, so a moved or copied image reuses its thumbnail
and a changed image gets a new one. Files live in `thumbnail_dir/ab/<sha256>.jpg`
(two-character fan-out keeps folders small). JPEG because it is the fastest
format Pillow writes (a 64-256 px thumbnail takes well under a millisecond),
which matters when importing thousands of images a second; transparency is
flattened onto a dark background.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

from PIL import Image

from gentui.catalog import png_fast

THUMB_SIZE = 256
THUMB_EXT = ".jpg"
BACKGROUND = (24, 24, 24)
JPEG_OPTIONS = {"quality": 85}


class ThumbnailError(Exception):
    """The image could not be decoded (corrupt, truncated, not an image)."""


def thumbnail_path(thumbnail_dir: str | Path, key: str) -> Path:
    """Where the thumbnail for content hash `key` lives (it may not exist yet)."""
    return Path(thumb_file(os.fspath(thumbnail_dir), key))


def thumb_file(thumbnail_dir: str, key: str) -> str:
    """`thumbnail_path` as a plain string (cheaper on the import hot path)."""
    return os.path.join(thumbnail_dir, key[:2], key + THUMB_EXT)


def decode_thumbnail(data: bytes, size: int = THUMB_SIZE) -> tuple[Image.Image, tuple[int, int]]:
    """Decode image bytes into a thumbnail-sized RGB image; also returns the full size.

    Decoding the whole image is also the check that the file is complete, so a
    truncated PNG fails here with ThumbnailError.
    """
    try:
        im = png_fast.decode_png(data)  # None: not a plain 8-bit PNG, or zlib-ng missing
        if im is None:
            im = Image.open(io.BytesIO(data))
            im.draft("RGB", (size, size))  # JPEG: decode at 1/2..1/8 scale directly
            im.load()  # decode everything now, so a truncated file fails here
        full = im.size
        # Box-reduce by a whole factor first (reducing_gap=1.0), then bilinear: 10x cheaper
        # than bicubic on the full image and fine for a preview.
        im.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=1.0)
        if im.mode not in ("RGB", "L"):
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                bg = Image.new("RGB", rgba.size, BACKGROUND)
                bg.paste(rgba, mask=rgba.getchannel("A"))
                im = bg
            else:
                im = im.convert("RGB")
        return im, full
    except Image.DecompressionBombError as e:
        raise ThumbnailError(f"image too large to decode safely: {e}") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as e:
        raise ThumbnailError(f"cannot decode image: {e}") from None


def tune_for_bulk() -> None:
    """Let Pillow keep a few freed image buffers for reuse (call in import workers only).

    Each decoded 888x768 image is a fresh ~2.7 MB allocation; without a cache every
    one is page-faulted in anew (~0.5-2 ms of system time per image on this kind of VM).
    """
    Image.core.set_blocks_max(max(Image.core.get_blocks_max(), 8))


def write_thumbnail(thumbnail_dir: str | Path, key: str, data: bytes, made_dirs: set[str] | None = None) -> Path:
    """Make the thumbnail for `data` unless it is cached; atomic (temp file + rename)."""
    dest = thumb_file(os.fspath(thumbnail_dir), key)
    if os.path.exists(dest):
        return Path(dest)
    im, _full = decode_thumbnail(data)
    parent = os.path.dirname(dest)
    if made_dirs is None or parent not in made_dirs:
        os.makedirs(parent, exist_ok=True)
        if made_dirs is not None:
            made_dirs.add(parent)
    tmp = os.path.join(parent, f".{key}.{os.getpid()}.tmp")
    try:
        im.save(tmp, "JPEG", **JPEG_OPTIONS)
    except FileNotFoundError:  # the cache folder was removed while we ran
        os.makedirs(parent, exist_ok=True)
        im.save(tmp, "JPEG", **JPEG_OPTIONS)
    os.replace(tmp, dest)
    return Path(dest)


def verify_image(data: bytes) -> tuple[int, int]:
    """Check an image is whole and return its size, cheaply when the format allows.

    Used when no thumbnail is made. A PNG whose chunks are all present with good
    CRCs up to IEND, a JPEG ending in its EOI marker, or a WebP as long as its
    RIFF header says is accepted without decoding pixels; anything else gets a
    full decode, which raises ThumbnailError if it is broken.
    """
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            size = _png_complete(data)
            if size is not None:
                return size
        elif (data.startswith(b"\xff\xd8") and data.rstrip(b"\0").endswith(b"\xff\xd9")) or (
                data.startswith(b"RIFF") and data[8:12] == b"WEBP"
                and len(data) >= struct.unpack("<I", data[4:8])[0] + 8):
            return Image.open(io.BytesIO(data)).size
    except (OSError, ValueError, SyntaxError, struct.error):
        pass
    _im, full = decode_thumbnail(data, size=THUMB_SIZE)
    return full


def _png_complete(data: bytes) -> tuple[int, int] | None:
    """IHDR size if every chunk is whole with a good CRC and IEND is reached; else None."""
    pos, end, size, idat = 8, len(data), None, False
    while pos + 12 <= end:
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        stop = pos + 12 + length
        if stop > end:
            return None
        if zlib.crc32(data[pos + 4 : pos + 8 + length]) != struct.unpack(">I", data[stop - 4 : stop])[0]:
            return None
        if ctype == b"IHDR":
            size = struct.unpack(">II", data[pos + 8 : pos + 16])
        elif ctype == b"IDAT":
            idat = True
        elif ctype == b"IEND":
            return size if idat else None
        pos = stop
    return None
