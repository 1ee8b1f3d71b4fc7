"""Write-up tables and the write-up document for an annotated fixture sweep, compared with expected Markdown."""

from __future__ import annotations

import subprocess
import sys

from gentui.analysis.report import grouped_table
from gentui.analysis.tables import render_markdown
from gentui.catalog.annotations import add_annotation, add_tags
from gentui.catalog.query import search
from tests.tui_helpers import make_settings, populate


def _annotated(tmp_path):
    settings = make_settings(tmp_path / "home")
    cat = populate(settings, layouts=("side_by_side",))  # 2 seeds x 5 weights, ids 1-10
    add_annotation(cat, 1, "left", "side_ponytail", "present")
    add_annotation(cat, 1, "left", "scrunchie", "color_drift", color="orange")
    add_annotation(cat, 6, "left", "side_ponytail", "present")
    add_annotation(cat, 5, "left", "hair_color", "migrated", target="right")
    add_annotation(cat, 5, "right", "ahoge", "duplicated", target="left")
    add_tags(cat, [1], ["keeper"])
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\ndata_dir = "{settings.data_dir}"\n')
    return settings, cat, config


def test_grouped_table_per_weight_counts_seeds(tmp_path):
    _settings, cat, _ = _annotated(tmp_path)
    rows = search(cat, "sweep:kana-2girls", sort="weight", descending=False, limit=None)
    md = render_markdown(grouped_table(cat, rows, "weight"))
    assert md == (
        "| weight | images | judged | left (Kanachan) | bleed onto left | right (Reina) | bleed onto right | tags |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| 0.4 | 2 | 2 | side_ponytail present 2/2; scrunchie color_drift orange 1/2 | none | not judged | none "
        "| keeper 1/2 |\n"
        "| 0.6 | 2 | 0 | - | - | - | - |  |\n"
        "| 0.8 | 2 | 0 | - | - | - | - |  |\n"
        "| 1.0 | 2 | 0 | - | - | - | - |  |\n"
        "| 1.2 | 2 | 1 | hair_color migrated -> right | ahoge (from right, duplicated) | ahoge duplicated -> left "
        "| hair_color (from left, migrated) | bleed 2/2 |\n")
    cat.close()


def _gentui(config, *args):
    return subprocess.run([sys.executable, "-m", "gentui.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60)


def test_writeup_markdown_with_images_beside_it(tmp_path):
    _settings, cat, config = _annotated(tmp_path)
    cat.close()
    out = tmp_path / "post"
    p = _gentui(config, "report", "sweep:kana-2girls", "--format", "md", "--images", str(out), "--min-judged", "1")
    assert p.returncode == 0, p.stderr
    doc = (out / "writeup.md").read_text()
    sections = [line for line in doc.splitlines() if line.startswith("## ")]
    assert sections == ["## Setup", "## Contact sheet", "## By weight", "## Bleed rates", "## Operating line",
                        "## Images"]
    assert doc.startswith("# Sweep kana-2girls\n\n10 images (query `sweep:kana-2girls`), 3 of them judged")
    assert "| workflow | anima |\n" in doc and "| LoRA | kanachan-v4 |\n" in doc and "| sampler | er_sde |\n" in doc
    assert "Varied: seed (2 values), LoRA weight (5 values), prompt (2 values)." in doc
    assert "![contact sheet: rows seed, columns weight](contact-sheet.png)" in doc
    assert ("- side_by_side, named, 2 characters: bleeds from the lowest judged weight, 0.4 "
            "(1/2 judged bled, 50%)") in doc
    assert ("### weight 0.4, seed 1293127692\n\n![#1 weight 0.4, seed 1293127692](00001-weight0.4-seed1293127692.png)"
            "\n\n- #1, seed 1293127692, weight 0.4, side_by_side, named\n"
            "- left (Kanachan): side_ponytail present; scrunchie color_drift orange\n- tags: keeper\n") in doc
    # every image the document names is beside it, and the copies are the originals' bytes
    import re

    names = re.findall(r"\]\(([^)]+)\)", doc)
    assert len(names) == 11 and all((out / n).is_file() for n in names)
    assert (out / "00001-weight0.4-seed1293127692.png").read_bytes() == \
        (_settings.output_dir / "r001.png").read_bytes()


def test_writeup_html_is_one_self_contained_file(tmp_path):
    _settings, cat, config = _annotated(tmp_path)
    cat.close()
    p = _gentui(config, "report", "sweep:kana-2girls", "--format", "html", "-o", str(tmp_path / "k.html"))
    assert p.returncode == 0, p.stderr
    page = (tmp_path / "k.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<h2>Operating line</h2>" in page
    assert page.count('<img src="data:image/png;base64,') == 11
    assert "src=\"/" not in page and "src=\"0" not in page
    assert not list(tmp_path.glob("*.png"))


def test_report_tables_and_errors(tmp_path):
    _settings, cat, config = _annotated(tmp_path)
    cat.close()
    p = _gentui(config, "report", "sweep:kana-2girls", "--operating-line", "--format", "json")
    import json

    line = json.loads(p.stdout.splitlines()[0])
    assert line["layout"] == "side_by_side" and line["weight"] is None and line["first_over"]["weight"] == 0.4
    assert line["weights"][0]["rate"] == 0.5
    p = _gentui(config, "report", "sweep:kana-2girls", "--by", "colour")
    assert p.returncode == 2 and "unknown axis 'colour'" in p.stderr
    p = _gentui(config, "report", "sweep:kana-2girls", "-o", str(tmp_path / "nope" / "w.md"))
    assert p.returncode == 1 and "nope" in p.stderr and "does not exist" in p.stderr
    # export table and matrix still work (the same code as report)
    p = _gentui(config, "export", "table", "sweep:kana-2girls w:1.2", "--axes", "seed,weight")
    assert p.returncode == 0 and "| 1293127692 | 1.2 | hair_color migrated -> right | ahoge duplicated -> left |" \
        in p.stdout
    p = _gentui(config, "export", "matrix", "sweep:kana-2girls", "--cols", "named")
    assert "| 0.4 | 50% 1/2 judged | 50% 1/2 judged | 9%-91% |" in p.stdout
