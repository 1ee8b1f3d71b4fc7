"""Bleed rates, Wilson intervals and the operating line on fixtures with known rates."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from gentui.analysis.bleed import bleed_matrix, matrix_table
from gentui.analysis.rates import format_cell, operating_lines, rates_by, wilson_interval, Cell
from gentui.analysis.tables import render_json
from gentui.catalog.db import open_catalog
from gentui.catalog.models import Annotation, Result


def test_wilson_interval_matches_published_values():
    # Newcombe (1998), Table I: 81/263 -> 0.2553-0.3662; 0/10 -> 0-0.2775; 1/1 -> 0.2065-1
    lo, hi = wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    assert [round(v, 4) for v in wilson_interval(0, 10)] == [0.0, 0.2775]
    assert [round(v, 4) for v in wilson_interval(1, 1)] == [0.2065, 1.0]
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_cell_text_says_what_it_counts():
    assert format_cell(Cell(results=8, judged=5, bled=2)) == "40% 2/5 judged of 8"
    assert format_cell(Cell(results=5, judged=5, bled=2)) == "40% 2/5 judged"
    assert format_cell(Cell(results=3)) == "- 0 judged of 3"
    assert format_cell(Cell()) == ""


# weight -> (images, judged, bled) for layout side_by_side, named, 2 characters
KNOWN = {0.4: (4, 4, 0), 0.6: (4, 4, 0), 0.8: (5, 4, 0), 1.0: (4, 4, 2), 1.2: (4, 4, 4)}
# a second setting with too few judgements
SPARSE = {0.4: (2, 1, 0), 0.8: (2, 1, 0), 1.2: (1, 1, 1)}


@pytest.fixture
def catalog(tmp_path):
    cat = open_catalog(tmp_path / "c.db")
    p = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(p)
    n = 0
    with cat.session() as s:
        for layout, named, table in (("side_by_side", True, KNOWN), ("cluster", False, SPARSE)):
            for w, (images, judged, bled) in table.items():
                for k in range(images):
                    n += 1
                    s.add(Result(id=n, path=f"{p}.{n}", seed=k, lora_strength=w, use_lora=True, layout=layout,
                                 named=named, n_characters=2))
                    s.flush()
                    if k < judged:
                        outcome = "migrated" if k < bled else "present"
                        s.add(Annotation(result_id=n, slot="left", feature="side_ponytail", outcome=outcome,
                                         target="right" if outcome == "migrated" else None))
        n += 1
        s.add(Result(id=n, path=f"{p}.off", use_lora=False, layout="side_by_side", named=True, n_characters=2))
        s.commit()
    yield cat
    cat.close()


def _ids(cat):
    with cat.engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT id FROM result")]


def test_operating_line_is_the_last_weight_under_the_threshold(catalog):
    lines = {ln.group["layout"]: ln for ln in operating_lines(catalog, _ids(catalog), max_bleed=0.1, min_judged=3)}
    safe = lines["side_by_side"]
    assert safe.group == {"layout": "side_by_side", "named": True, "chars": 2}
    assert safe.weight == 0.8 and safe.enough
    assert (safe.cell.judged, safe.cell.bled, safe.cell.results) == (4, 0, 5)
    assert safe.first_over.weight == 1.0 and safe.first_over.cell.rate == 0.5
    assert safe.verdict() == ("under 10% up to weight 0.8 (0/4 judged bled, 95% CI 0%-49%); "
                              "bleeds at 1.0 (2/4 judged bled, 50%)")
    # a looser threshold moves the line up; the LoRA-off result never enters it
    loose = operating_lines(catalog, _ids(catalog), max_bleed=0.6, min_judged=3)
    assert [ln.weight for ln in loose if ln.group["layout"] == "side_by_side"] == [1.0]


def test_operating_line_with_too_few_judgements_says_so(catalog):
    sparse = next(ln for ln in operating_lines(catalog, _ids(catalog)) if ln.group["layout"] == "cluster")
    assert sparse.weight == 0.8 and not sparse.enough
    assert sparse.verdict().startswith("not enough judged images: 0.8 has 1 (need 3; 0/1 judged bled, 95% CI 0%-79%)")
    record = sparse.as_dict()
    assert record["enough"] is False and record["at_weight"]["judged"] == 1
    assert record["at_weight"]["ci_high"] == pytest.approx(0.7935, abs=1e-4)
    with pytest.raises(ValueError, match="max-bleed"):
        operating_lines(catalog, _ids(catalog), max_bleed=10)


def test_rates_by_axis_and_matrix_json_give_numbers(catalog):
    by = {r.axis: r for r in rates_by(catalog, _ids(catalog))}
    assert set(by) == {"weight", "layout", "named"}  # chars, variant, lora do not vary
    c = by["weight"].cells[1.2]
    assert (c.results, c.judged, c.bled) == (5, 5, 5)
    m = bleed_matrix(catalog, _ids(catalog), rows="weight", cols="layout")
    records = [json.loads(line) for line in render_json(matrix_table(m)).splitlines()]
    cell = next(r for r in records if r["weight"] == 1.0 and r["layout"] == "side_by_side")
    assert cell["rate"] == 0.5 and cell["judged"] == 4 and cell["bled"] == 2 and cell["results"] == 4
    assert isinstance(cell["ci_low"], float) and 0 < cell["ci_low"] < 0.5 < cell["ci_high"] < 1
