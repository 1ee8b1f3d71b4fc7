"""Colour readout: the dominant colours in each character's part of a picture, named in plain words.

For people who cannot trust their own eyes on colour: "is the scrunchie yellow
or orange?". The picture is cut into one region per character by the prompt's
positions (left / middle / right, in prompt order; or regions the user gives as
fractions of the picture), each region is reduced to a few colours (median cut),
and each colour is named by the nearest entry of the XKCD colour survey
(https://xkcd.com/color/rgb/, 949 names given by about 222,500 people; CC0),
nearest meaning the smallest CIEDE2000 difference in CIELAB (D65), the
CIE's formula for perceived colour difference (Sharma, Wu and Dalal 2005,
"The CIEDE2000 color-difference formula: implementation notes, supplementary
test data, and mathematical observations"). Nothing is segmented: a region's
colours include its share of background, hair, skin and clothes alike, and
the readout says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from gentui.analysis.colour_names import XKCD

BASIS = "XKCD colour survey names, nearest by CIEDE2000 (CIELAB, D65)"
COLUMN_SLOTS = ("left", "middle", "right")
PALETTE = 24
MIN_SHARE = 0.03
MAX_COLOURS = 6
SAMPLE = 96
"""Regions are reduced to at most this many pixels on a side before counting colours."""


class ColourError(ValueError):
    """An image or region that cannot be read; the message says which and why."""


# ---------------------------------------------------------------- colour science
def _linear(c: float) -> float:
    c /= 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def srgb_to_lab(rgb: Sequence[int]) -> tuple[float, float, float]:
    """sRGB (0-255) -> CIELAB under D65 (the sRGB white point)."""
    r, g, b = (_linear(v) for v in rgb[:3])
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def ciede2000(lab1: Sequence[float], lab2: Sequence[float]) -> float:
    """CIEDE2000 colour difference (kL = kC = kH = 1)."""
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar**7 / (c_bar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0
    dl = l2 - l1
    dc = c2p - c1p
    if c1p * c2p == 0:
        dh = 0.0
    elif abs(h2p - h1p) <= 180:
        dh = h2p - h1p
    elif h2p - h1p > 180:
        dh = h2p - h1p - 360
    else:
        dh = h2p - h1p + 360
    d_h = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    l_bar = (l1 + l2) / 2
    cp_bar = (c1p + c2p) / 2
    if c1p * c2p == 0:
        hp_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hp_bar = (h1p + h2p) / 2
    elif h1p + h2p < 360:
        hp_bar = (h1p + h2p + 360) / 2
    else:
        hp_bar = (h1p + h2p - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(hp_bar - 30)) + 0.24 * math.cos(math.radians(2 * hp_bar))
         + 0.32 * math.cos(math.radians(3 * hp_bar + 6)) - 0.20 * math.cos(math.radians(4 * hp_bar - 63)))
    d_theta = 30 * math.exp(-(((hp_bar - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(cp_bar**7 / (cp_bar**7 + 25**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    return math.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (dc / s_c) * (d_h / s_h))


def _hex(rgb: Sequence[int]) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb[:3])


@lru_cache(maxsize=1)
def _named_labs() -> list[tuple[str, str, tuple[float, float, float]]]:
    out = []
    for name, hexv in XKCD:
        rgb = tuple(int(hexv[i : i + 2], 16) for i in (1, 3, 5))
        out.append((name, hexv, srgb_to_lab(rgb)))
    return out


@lru_cache(maxsize=1)
def _by_name() -> dict[str, str]:
    return dict(XKCD)


@lru_cache(maxsize=4096)
def name_colour(rgb: tuple[int, int, int]) -> tuple[str, str, float]:
    """(name, the name's hex, CIEDE2000 distance) of the nearest survey colour."""
    lab = srgb_to_lab(rgb)
    # CIE76 (plain distance in Lab) picks the candidates, CIEDE2000 decides among them
    near = sorted(_named_labs(), key=lambda e: sum((p - q) ** 2 for p, q in zip(e[2], lab)))[:24]
    name, hexv, dist = min(((n, h, ciede2000(lab, q)) for n, h, q in near), key=lambda x: x[2])
    return name, hexv, dist


# ---------------------------------------------------------------- regions
@dataclass
class NamedColour:
    name: str
    hex: str
    """The measured colour (share-weighted mean of what was merged under this name)."""
    share: float
    """Share of the region's pixels, 0-1."""
    named_hex: str
    """The survey's colour for `name`."""
    delta_e: float
    """CIEDE2000 difference between the measured colour and the named one."""


@dataclass
class RegionColours:
    slot: str
    character: str | None
    box: tuple[float, float, float, float]
    """x0, y0, x1, y1 as fractions of the picture."""
    measured: str
    colours: list[NamedColour] = field(default_factory=list)


@dataclass
class ColourReadout:
    result_id: int | None
    path: str
    basis: str
    regions: list[RegionColours]
    note: str = ("regions are whole columns of the picture: background, hair, skin and clothes are not separated; "
                 "shares are of all pixels in the region")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def character_regions(characters: Iterable[Any]) -> list[tuple[str, str | None, tuple[float, float, float, float]]]:
    """(slot, name, box) per character: one column each, in left-to-right order of the prompt's positions."""
    chars = list(characters)
    if not chars:
        return [("image", None, (0.0, 0.0, 1.0, 1.0))]

    def order(c: Any) -> tuple:
        slot = (getattr(c, "slot", "") or "").lower()
        return (COLUMN_SLOTS.index(slot) if slot in COLUMN_SLOTS else 9, getattr(c, "idx", 0))

    ordered = sorted(chars, key=order)
    n = len(ordered)
    return [(getattr(c, "slot", "") or str(getattr(c, "idx", i)), getattr(c, "name", None), (i / n, 0.0, (i + 1) / n, 1.0))
            for i, c in enumerate(ordered)]


def parse_region(text: str) -> tuple[str, tuple[float, float, float, float]]:
    """`left=0,0,0.5,1` (or `0,0,0.5,1`): a named box as fractions x0,y0,x1,y1 of the picture."""
    name, eq, spec = text.partition("=")
    if not eq:
        name, spec = "region", text
    try:
        vals = tuple(float(v) for v in spec.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4 or not (0 <= vals[0] < vals[2] <= 1 and 0 <= vals[1] < vals[3] <= 1):
        raise ColourError(f"region {text!r}: expected NAME=x0,y0,x1,y1 as fractions of the picture with "
                          "x0 < x1 and y0 < y1, e.g. left=0,0,0.5,1 or hair=0.1,0,0.4,0.3")
    return name.strip() or "region", vals  # type: ignore[return-value]


def dominant_colours(im: Image.Image, palette: int = PALETTE) -> list[NamedColour]:
    """The named colours of `im` with their shares, largest first (those under MIN_SHARE left out)."""
    im = im.convert("RGB")
    im.thumbnail((SAMPLE, SAMPLE), Image.Resampling.BOX)
    total = im.width * im.height
    q = im.quantize(colors=palette, method=Image.Quantize.MEDIANCUT)
    pal = q.getpalette() or []
    merged: dict[str, list[float]] = {}
    for n, idx in q.getcolors(palette * 4) or []:
        rgb = tuple(pal[idx * 3 : idx * 3 + 3])
        name = name_colour(rgb)[0]  # type: ignore[arg-type]
        acc = merged.setdefault(name, [0.0, 0.0, 0.0, 0.0])
        acc[0] += n
        for k in range(3):
            acc[k + 1] += rgb[k] * n
    out = []
    for name, (n, r, g, b) in merged.items():
        share = n / total
        if share < MIN_SHARE:
            continue
        mean = (round(r / n), round(g / n), round(b / n))
        named = _by_name()[name]
        out.append(NamedColour(name, _hex(mean), round(share, 4), named,
                               round(ciede2000(srgb_to_lab(mean), srgb_to_lab(_rgb(named))), 2)))
    out.sort(key=lambda c: -c.share)
    return out[:MAX_COLOURS]


def _rgb(hexv: str) -> tuple[int, int, int]:
    return (int(hexv[1:3], 16), int(hexv[3:5], 16), int(hexv[5:7], 16))


def read_colours(path: str | Path, characters: Iterable[Any] = (), regions: Sequence[tuple[str, Any]] = (),
                 result_id: int | None = None) -> ColourReadout:
    """The readout of the image at `path`: one region per character, or the `regions` given."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (SAMPLE * 4, SAMPLE * 4))
            picture = im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise ColourError(f"{path}: cannot read the image ({getattr(e, 'strerror', None) or e})") from None
    if regions:
        boxes = [(name, None, box) for name, box in regions]
        measured = "the box {box} of the picture (fractions x0,y0,x1,y1), every pixel in it"
    else:
        boxes = character_regions(characters)
        n = len(boxes)
        measured = ("the whole picture, every pixel" if n == 1 and boxes[0][0] == "image"
                    else f"column {{i}} of {n} of the picture (by the prompt's positions), every pixel in it")
    out = []
    w, h = picture.size
    for i, (slot, name, box) in enumerate(boxes):
        crop = picture.crop((round(box[0] * w), round(box[1] * h), max(round(box[0] * w) + 1, round(box[2] * w)),
                             max(round(box[1] * h) + 1, round(box[3] * h))))
        out.append(RegionColours(slot, name, tuple(box), measured.format(i=i + 1, box=",".join(f"{v:g}" for v in box)),
                                 dominant_colours(crop)))
    return ColourReadout(result_id, str(path), BASIS, out)


def readout_for_result(catalog: Any, result_id: int, regions: Sequence[tuple[str, Any]] = ()) -> ColourReadout:
    """The readout of a catalog result (its characters give the regions)."""
    from sqlmodel import select

    from gentui.catalog.models import Character, Result

    with catalog.session() as s:
        r = s.get(Result, result_id)
        if r is None:
            raise ColourError(f"no result with id {result_id}")
        chars = list(s.exec(select(Character).where(Character.result_id == result_id)))
    return read_colours(r.path, chars, regions, result_id=result_id)


def summary(readout: ColourReadout, per_region: int = 3) -> str:
    """`left: chestnut 31%, orange 12%   right: near black 40%, navy 22%` (one line)."""
    parts = []
    for reg in readout.regions:
        names = ", ".join(f"{c.name} {c.share:.0%}" for c in reg.colours[:per_region]) or "-"
        parts.append(f"{reg.slot}: {names}")
    return "   ".join(parts)
