"""Faster decoding of ordinary PNGs: pixel data inflated by zlib-ng, unfiltered by Pillow.

Pillow inflates PNG pixel data through the system zlib (1.2.x on this kind of
machine, whatever Pillow's wheel says about zlib-ng), one row per call: with
its row unfiltering that is ~8-12 ms CPU for an 888x768 generated image, most
of an import's time. zlib-ng (the optional `zlib-ng` package) inflates the
same stream ~20x faster; the inflated rows are then handed to Pillow's own
PNG row decoder as a *stored* (uncompressed) zlib stream, so Pillow only
copies and unfilters, and the pixels are bit-identical to Pillow's decode.
(numpy could undo Sub/Up rows, but Paeth rows are sequential per pixel and
measured no faster than Pillow's C loop, so there is nothing to gain.)

Only 8-bit grey/RGB/RGBA, non-interlaced PNGs take this path; anything else,
or a missing `zlib-ng`, returns None and the caller decodes with Pillow as
before. A truncated or corrupt stream raises `ValueError`.
"""

from __future__ import annotations

import struct

from PIL import Image

try:  # optional accelerator
    from zlib_ng import zlib_ng
except ImportError:  # pragma: no cover - exercised only without the extra
    zlib_ng = None  # type: ignore[assignment]

_MODES = {0: ("L", 1), 2: ("RGB", 3), 6: ("RGBA", 4)}
_SIG = b"\x89PNG\r\n\x1a\n"


def available() -> bool:
    """True when zlib-ng is installed."""
    return zlib_ng is not None


def _chunks(data: bytes) -> tuple[bytes, bytes] | None:
    """(IHDR body, concatenated IDAT bodies), checking each chunk's length and CRC."""
    pos, end = 8, len(data)
    ihdr, idat = None, []
    crc32 = zlib_ng.crc32
    while pos + 12 <= end:
        length, ctype = struct.unpack_from(">I4s", data, pos)
        stop = pos + 12 + length
        if stop > end:
            raise ValueError("PNG truncated inside a chunk")
        if ctype in (b"IHDR", b"IDAT"):
            body = data[pos + 8 : stop - 4]
            if crc32(ctype + body) != struct.unpack_from(">I", data, stop - 4)[0]:
                raise ValueError(f"PNG {ctype.decode()} chunk has a bad CRC")
            if ctype == b"IHDR":
                ihdr = body
            else:
                idat.append(body)
        elif ctype == b"IEND":
            break
        pos = stop
    else:
        if pos != end:
            raise ValueError("PNG truncated inside a chunk header")
    if ihdr is None or len(ihdr) != 13 or not idat:
        return None
    return ihdr, b"".join(idat)


def decode_png(data: bytes) -> Image.Image | None:
    """Decode PNG bytes to a Pillow image, or None when this fast path does not apply."""
    if not available() or not data.startswith(_SIG):
        return None
    found = _chunks(data)
    if found is None:
        return None
    ihdr, idat = found
    w, h, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", ihdr)
    if depth != 8 or interlace or ctype not in _MODES or not w or not h:
        return None
    if Image.MAX_IMAGE_PIXELS and w * h > Image.MAX_IMAGE_PIXELS:
        return None  # Pillow's own path warns or refuses (decompression bomb)
    mode, bpp = _MODES[ctype]
    stride = w * bpp
    size = h * (stride + 1)
    try:
        raw = zlib_ng.decompress(idat, bufsize=size + 1)
    except zlib_ng.error as e:
        raise ValueError(f"PNG pixel data is corrupt or truncated: {e}") from None
    if len(raw) < size:
        raise ValueError("PNG pixel data is truncated")
    if any(b > 4 for b in raw[: size : stride + 1]):
        raise ValueError("PNG row has an unknown filter type")
    stored = zlib_ng.compress(raw if len(raw) == size else raw[:size], 0)
    return Image.frombytes(mode, (w, h), stored, "zip", mode)
