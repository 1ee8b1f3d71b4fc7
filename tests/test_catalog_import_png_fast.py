"""The zlib-ng PNG fast path decodes exactly what Pillow decodes, and fails only with ValueError."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gentui.catalog import png_fast, thumbnails

pytestmark = pytest.mark.skipif(not png_fast.available(), reason="zlib-ng not installed")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(w: int, h: int, ctype: int, rows: bytes, depth: int = 8, interlace: int = 0, split: int = 0) -> bytes:
    """A PNG from already-filtered row bytes (each row: filter byte + data), IDAT optionally split."""
    z = zlib.compress(rows, 6)
    parts = [z[i : i + split] for i in range(0, len(z), split)] if split else [z]
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + b"".join(_chunk(b"IDAT", p) for p in parts)
            + _chunk(b"IEND", b""))


def _pillow(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize("ctype,bpp", [(0, 1), (2, 3), (6, 4)])
def test_every_filter_type_matches_pillow(ctype: int, bpp: int) -> None:
    rng = random.Random(ctype)
    w, h = 37, 61
    # Any bytes are valid filtered data; filter types in runs and alone, all five of them.
    kinds = [0, 1, 2, 2, 2, 3, 4, 4, 1, 0, 3, 2] * 6
    rows = b"".join(bytes([kinds[i % len(kinds)]]) + rng.randbytes(w * bpp) for i in range(h))
    data = _png(w, h, ctype, rows, split=97)
    got = png_fast.decode_png(data)
    ref = _pillow(data)
    assert got is not None and got.mode == ref.mode and got.size == ref.size
    assert got.tobytes() == ref.tobytes()


def test_pillow_encoded_images_match() -> None:
    from gentui.simulator.render import encode_png, render_scene

    img = render_scene({"seed": 3, "positive": "two friends", "width": 177, "height": 130})
    for level in (1, 4, 9):
        data = encode_png(img, {"prompt": "{}"}, compress_level=level)
        assert png_fast.decode_png(data).tobytes() == _pillow(data).tobytes()


def test_other_pngs_are_left_to_pillow() -> None:
    row = b"\x00" + bytes(8)
    assert png_fast.decode_png(_png(4, 1, 2, b"\x00" + bytes(24), depth=16)) is None  # 16-bit
    assert png_fast.decode_png(_png(8, 1, 0, row, interlace=1)) is None  # Adam7
    assert png_fast.decode_png(_png(8, 1, 3, row)) is None  # palette
    assert png_fast.decode_png(b"\xff\xd8 a jpeg") is None


def test_truncated_and_corrupt_raise_value_error() -> None:
    rows = b"".join(b"\x02" + bytes(range(30)) for _ in range(20))
    data = _png(10, 20, 2, rows)
    for cut in (len(data) - 30, len(data) // 2, 40):
        with pytest.raises(ValueError):
            png_fast.decode_png(data[:cut])
    bad_crc = bytearray(data)
    bad_crc[-20] ^= 0xFF  # inside the IDAT chunk
    with pytest.raises(ValueError):
        png_fast.decode_png(bytes(bad_crc))
    bad_filter = _png(10, 20, 2, rows.replace(b"\x02", b"\x07", 1))
    with pytest.raises(ValueError):
        png_fast.decode_png(bad_filter)


def test_thumbnail_of_truncated_png_is_a_thumbnail_error(tmp_path) -> None:
    rows = b"".join(b"\x01" + bytes(range(90)) for _ in range(50))
    data = _png(30, 50, 2, rows)
    with pytest.raises(thumbnails.ThumbnailError):
        thumbnails.write_thumbnail(tmp_path, "ab" * 32, data[: len(data) - 25])


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 6))
def test_hostile_bytes_raise_only_value_error(tail: bytes, ctype: int) -> None:
    ihdr = struct.pack(">IIBBBBB", 7, 5, 8, ctype, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", tail) + tail
    try:
        im = png_fast.decode_png(data)
    except ValueError:
        return
    assert im is None or im.size == (7, 5)
