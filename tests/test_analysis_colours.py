"""Colour naming on pictures painted with known colours; CIEDE2000 against its published test data."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
from PIL import Image, ImageDraw

from gentui.analysis.colours import ColourError, ciede2000, name_colour, parse_region, read_colours

# Sharma, Wu and Dalal (2005), Table 1: pairs 1, 7, 17, 25, 34
SHARMA = [((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
          ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
          ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
          ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
          ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082)]


@pytest.mark.parametrize("lab1,lab2,expected", SHARMA)
def test_ciede2000_matches_the_published_test_data(lab1, lab2, expected):
    assert round(ciede2000(lab1, lab2), 4) == expected
    assert round(ciede2000(lab2, lab1), 4) == expected


def test_survey_colours_are_named_by_their_own_name():
    assert name_colour((0x74, 0x28, 0x02))[:2] == ("chestnut", "#742802")
    assert name_colour((0xd2, 0xbd, 0x0a))[0] == "mustard yellow"
    assert name_colour((0xf9, 0x73, 0x06))[0] == "orange"
    assert name_colour((0x01, 0x15, 0x3e))[0] == "navy"
    name, _hex, dist = name_colour((255, 255, 0))
    assert name == "yellow" and dist < 1


def _chars(*slots):
    return [SimpleNamespace(slot=s, idx=i, name=n) for i, (s, n) in enumerate(slots)]


def test_each_character_region_is_measured_and_named(tmp_path):
    p = tmp_path / "two.png"
    im = Image.new("RGB", (300, 200), (0x01, 0x15, 0x3e))  # navy on the right
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, 149, 199), fill=(0x74, 0x28, 0x02))  # chestnut on the left
    d.rectangle((0, 0, 149, 59), fill=(0xf9, 0x73, 0x06))  # an orange band: 30% of the left half
    im.save(p)
    r = read_colours(p, _chars(("right", "Reina"), ("left", "Kanachan")))  # prompt order is not picture order
    left, right = r.regions
    assert (left.slot, left.character, left.box) == ("left", "Kanachan", (0.0, 0.0, 0.5, 1.0))
    assert [(c.name, round(c.share, 2)) for c in left.colours] == [("chestnut", 0.7), ("orange", 0.3)]
    assert left.colours[0].hex == "#742802" and left.colours[0].delta_e == 0
    assert [c.name for c in right.colours] == ["navy"] and right.colours[0].share == 1.0
    assert "not separated" in r.note and "CIEDE2000" in r.basis


def test_user_regions_and_bad_input(tmp_path):
    p = tmp_path / "a.png"
    im = Image.new("RGB", (100, 100), (255, 255, 255))
    ImageDraw.Draw(im).rectangle((0, 0, 19, 19), fill=(0xd2, 0xbd, 0x0a))
    im.save(p)
    r = read_colours(p, regions=[parse_region("scrunchie=0,0,0.2,0.2")])
    assert r.regions[0].slot == "scrunchie" and r.regions[0].colours[0].name == "mustard yellow"
    for bad in ("x=1,2", "x=0.5,0,0.2,1", "x=a,b,c,d"):
        with pytest.raises(ColourError, match="fractions"):
            parse_region(bad)
    (tmp_path / "bad.png").write_bytes(b"no")
    with pytest.raises(ColourError, match="cannot read the image"):
        read_colours(tmp_path / "bad.png")


def test_colors_cli_json_has_numbers(tmp_path):
    p = tmp_path / "a.png"
    Image.new("RGB", (60, 60), (0xf9, 0x73, 0x06)).save(p)
    out = subprocess.run([sys.executable, "-m", "gentui.cli", "colors", str(p), "--json"], capture_output=True,
                         text=True, timeout=60, env={"GENTUI_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    colour = data["regions"][0]["colours"][0]
    assert colour["name"] == "orange" and colour["share"] == 1.0 and isinstance(colour["delta_e"], float)
    out = subprocess.run([sys.executable, "-m", "gentui.cli", "colors", str(tmp_path / "none.png")],
                         capture_output=True, text=True, timeout=60, env={"GENTUI_HOME": str(tmp_path),
                                                                          "PATH": "/usr/bin:/bin"})
    assert out.returncode == 2 and "neither a result id in the catalog nor an image file" in out.stderr
