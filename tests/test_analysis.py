"""Bleed matrix, annotation tables and contact sheets over a real catalog and real images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from gentui.analysis.bleed import bleed_matrix, format_cell, matrix_table
from gentui.analysis.contact_sheet import make_contact_sheet
from gentui.analysis.report import annotation_table, render_csv, render_markdown
from gentui.catalog.db import open_catalog
from gentui.catalog.models import Annotation, Character, Result, Tag


@pytest.fixture
def catalog(tmp_path):
    cat = open_catalog(tmp_path / "c.db")
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    with cat.session() as s:
        for i, (w, layout) in enumerate([(0.4, "side_by_side"), (0.8, "side_by_side"), (1.2, "side_by_side"),
                                         (0.8, "cluster"), (None, "cluster")]):
            p = imgs / f"{i}.png"
            Image.new("RGB", (64, 48), (40 * i, 100, 200)).save(p)
            s.add(Result(id=i + 1, path=str(p), seed=42 if i < 3 else 7, lora_strength=w,
                         use_lora=w is not None, layout=layout, named=True, n_characters=2))
            s.flush()
            s.add(Character(result_id=i + 1, idx=0, slot="left", name="Kanachan"))
            s.add(Character(result_id=i + 1, idx=1, slot="right", name="Reina"))
        s.add(Annotation(result_id=2, slot="left", feature="side_ponytail", outcome="present"))
        s.add(Annotation(result_id=3, slot="right", feature="ahoge", outcome="duplicated", target="left"))
        s.add(Annotation(result_id=3, slot="left", feature="scrunchie", outcome="color_drift", color="orange"))
        s.add(Annotation(result_id=4, slot="left", feature="side_ponytail", outcome="migrated", target="right"))
        s.add(Tag(result_id=3, tag="bleed"))
        s.add(Tag(result_id=2, tag="keeper"))
        s.commit()
    yield cat
    cat.close()


def _results(cat):
    with cat.session() as s:
        from sqlmodel import select

        return list(s.exec(select(Result).order_by(Result.id)))


def test_bleed_matrix_counts_judged_and_bled_apart(catalog):
    m = bleed_matrix(catalog, [1, 2, 3, 4, 5], rows="weight", cols="layout")
    assert m.row_values == [0.4, 0.8, 1.2, None]
    assert m.col_values == ["cluster", "side_by_side"]
    assert format_cell(m.cell(0.8, "side_by_side")) == "0% 0/1 judged"
    assert format_cell(m.cell(1.2, "side_by_side")) == "100% 1/1 judged"
    assert format_cell(m.cell(0.8, "cluster")) == "100% 1/1 judged"
    assert format_cell(m.cell(0.4, "side_by_side")) == "- 0 judged of 1"
    table = matrix_table(m)
    assert table.headers == ["weight \\ layout", "cluster", "side_by_side", "all", "95% CI"]
    assert table.rows[-1][0] == "none"


def test_bleed_matrix_by_feature_and_outcome(catalog):
    m = bleed_matrix(catalog, [1, 2, 3, 4, 5], rows="weight", cols="named", feature="side_ponytail", outcome="migrated")
    assert format_cell(m.cell(0.8, True)) == "50% 1/2 judged"
    with pytest.raises(ValueError, match="unknown outcome"):
        bleed_matrix(catalog, [1], outcome="exploded")


def test_annotation_table_has_a_column_per_character(catalog):
    table = annotation_table(catalog, _results(catalog))
    assert table.headers == ["seed", "weight", "layout", "named", "left (Kanachan)", "right (Reina)", "tags"]
    row3 = table.rows[2]
    assert row3[:2] == ["42", "1.2"]
    assert row3[4] == "scrunchie color_drift orange"
    assert row3[5] == "ahoge duplicated -> left"
    assert row3[6] == "bleed"
    assert table.rows[4][1] == "none"
    md = render_markdown(table)
    assert md.splitlines()[1] == "|---|---|---|---|---|---|---|"
    assert "| 42 | 0.8 | side_by_side | yes | side_ponytail present | - | keeper |" in md
    assert render_csv(table).splitlines()[0].startswith("seed,weight,layout")


def test_contact_sheet_is_a_grid_with_gaps_for_missing_cells(catalog, tmp_path):
    results = _results(catalog)
    Path(results[4].path).write_bytes(b"not a png")
    info = make_contact_sheet(results, tmp_path / "sheet.png", rows="seed", cols="weight", cell=64)
    assert (info.rows, info.cols, info.cells) == (2, 4, 5)
    assert len(info.missing) == 1 and "4.png" in info.missing[0]
    with Image.open(info.path) as im:
        assert im.width > 4 * 64 and im.height > 2 * 64


def test_an_axis_family_adds_dotted_axes_without_touching_the_views(catalog, tmp_path):
    """`weight.NAME` (one LoRA's weight when an image has several) plugs in through AXIS_FAMILIES."""
    from gentui.analysis import axes

    with pytest.raises(axes.AxisError, match="unknown axis 'weight.kanachan'"):
        axes.get_axis("weight.kanachan")
    axes.AXIS_FAMILIES["weight"] = lambda name: axes.Axis(f"weight.{name}", "lora_strength",
                                                          lambda r: r.lora_strength if r.lora_name == name else None,
                                                          axes.format_weight, needs=("lora_name",))
    try:
        results = _results(catalog)
        for r in results:
            r.lora_name = "kanachan" if r.id != 1 else "other"
        assert axes.ordered_values(results, "weight.kanachan") == [0.8, 1.2, None]
        info = make_contact_sheet(results, tmp_path / "f.png", rows="seed", cols="weight.kanachan", cell=48)
        assert (info.rows, info.cols) == (2, 3)
        m = bleed_matrix(catalog, [1, 2, 3, 4, 5], rows="weight.kanachan", cols="layout")
        assert m.row_values == [None]  # the catalog's rows name no LoRA "kanachan"
    finally:
        del axes.AXIS_FAMILIES["weight"]
