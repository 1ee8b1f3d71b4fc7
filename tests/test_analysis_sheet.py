"""Contact sheets read back: sizes, the right image in the right cell, labels by crop-and-compare, errors."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from PIL import Image, ImageDraw

from gentui.analysis.contact_sheet import (BG, FG, SheetError, _layout, font, make_contact_sheet,
                                           plan_sheets)

COLOURS = {(7, 0.4): (220, 30, 30), (7, 0.8): (30, 200, 30), (42, 0.4): (30, 30, 220), (42, 0.8): (230, 200, 20)}


@pytest.fixture
def results(tmp_path):
    out, i = [], 0
    for layout in ("side_by_side", "cluster"):
        for (seed, w), colour in COLOURS.items():
            i += 1
            p = tmp_path / f"{i}.png"
            Image.new("RGB", (40, 40), colour if layout == "side_by_side" else tuple(255 - c for c in colour)).save(p)
            out.append(SimpleNamespace(id=i, path=str(p), seed=seed, lora_strength=w, use_lora=True, layout=layout,
                                       model="anima", sampler="er_sde", steps=8, cfg=1.0))
    return out


def _label(text, lay, size):
    im = Image.new("RGB", size, BG)
    ImageDraw.Draw(im).text((0, 0), text, fill=FG, font=font(lay.font_size))
    return im


def test_cells_hold_the_right_images_and_labels_read_back(results, tmp_path):
    info = make_contact_sheet(results[:4], tmp_path / "s.png", rows="seed", cols="weight", cell=64, title="t")
    lay = _layout(64, 2, 2, title=True, labels=True, captions=False)
    with Image.open(info.path) as im:
        assert im.width == lay.width and im.height > lay.grid_bottom  # the legend sits under the grid
        for i, seed in enumerate((7, 42)):
            for j, w in enumerate((0.4, 0.8)):
                x, y = lay.cell_xy(i, j)
                assert im.getpixel((x + 32, y + 32)) == COLOURS[(seed, w)]
        x, y = lay.col_label_xy(1)
        crop = im.crop((x, y, x + 60, y + lay.font_size + 2))
    assert crop.tobytes() == _label("weight 0.8", lay, crop.size).tobytes()
    assert crop.tobytes() != _label("weight 0.4", lay, crop.size).tobytes()


def test_a_page_axis_writes_one_file_per_value(results, tmp_path):
    info = make_contact_sheet(results, tmp_path / "s.png", rows="seed", cols="weight", page="layout", cell=48)
    assert [p.name for p in info.paths] == ["s-layout_cluster.png", "s-layout_side_by_side.png"]
    assert [pg.page_value for pg in plan_sheets(results, "seed", "weight", "layout")] == ["cluster", "side_by_side"]
    lay = _layout(48, 2, 2, title=True, labels=True, captions=False)
    with Image.open(info.paths[0]) as im:
        x, y = lay.cell_xy(0, 0)
        assert im.getpixel((x + 24, y + 24)) == tuple(255 - c for c in COLOURS[(7, 0.4)])


def test_large_grids_are_tiled_under_max_size(results, tmp_path):
    info = make_contact_sheet(results[:4], tmp_path / "s.png", rows="seed", cols="weight", cell=64, max_size=200)
    assert len(info.paths) == 2
    for p in info.paths:
        with Image.open(p) as im:
            assert max(im.size) <= 200
    with pytest.raises(SheetError, match="does not fit"):
        make_contact_sheet(results[:4], tmp_path / "t.png", cell=256, max_size=200)


def test_captions_and_judgements_are_drawn(results, tmp_path):
    plain = make_contact_sheet(results[:1], tmp_path / "a.png", cell=96, legend=False)
    noted = make_contact_sheet(results[:1], tmp_path / "b.png", cell=96, legend=False, captions=True,
                               notes={1: ["left: side_ponytail migrated -> right"]})
    lay = _layout(96, 1, 1, title=False, labels=True, captions=True)
    with Image.open(plain.path) as a, Image.open(noted.path) as b:
        assert b.height == a.height + lay.caption_h
        x, y = lay.cell_xy(0, 0)
        assert a.getpixel((x + 48, y + 90)) == COLOURS[(7, 0.4)]
        assert b.getpixel((x + 48, y + 90)) != COLOURS[(7, 0.4)]  # the judgement band darkens the bottom
        assert b.getpixel((x + 48, y + 10)) == COLOURS[(7, 0.4)]


def test_output_names_are_checked_and_errors_name_the_users_path(results, tmp_path):
    for bad in ("x.gif", "x.txt", "x"):
        with pytest.raises(SheetError, match="not an image format"):
            make_contact_sheet(results, tmp_path / bad)
    with pytest.raises(SheetError, match="does not exist"):
        make_contact_sheet(results, tmp_path / "missing" / "s.png")
    assert not (tmp_path / "missing").exists()
    # /proc takes no new files, even from root: the error names the user's path, not the temp file
    with pytest.raises(SheetError) as e:
        make_contact_sheet(results, "/proc/s.png")
    assert str(e.value).startswith("/proc/s.png: cannot write") and ".tmp" not in str(e.value)


def test_export_sheet_cli_refuses_a_wrong_extension(tmp_path):
    p = subprocess.run([sys.executable, "-m", "gentui.cli", "export", "sheet", "-o", str(tmp_path / "x.gif")],
                       capture_output=True, text=True, timeout=60, env={"GENTUI_HOME": str(tmp_path),
                                                                       "PATH": "/usr/bin:/bin"})
    assert p.returncode == 2 and "x.gif: .gif is not an image format" in p.stderr
    assert not (tmp_path / "x.gif").exists()
