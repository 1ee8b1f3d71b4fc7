"""Annotations, tags and ratings: written to the catalog and mirrored into the sidecar together."""

from __future__ import annotations

import json
import os

import pytest
from query_fixtures import add_result
from sqlmodel import select

from gentui.catalog.annotations import (
    AnnotationError,
    add_annotation,
    add_tags,
    remove_annotation,
    remove_tags,
    resolve_results,
    set_rating,
)
from gentui.catalog.db import open_catalog
from gentui.catalog.models import Annotation, Result, Tag
from gentui.catalog.query import count


@pytest.fixture
def cat(tmp_path):
    c = open_catalog(tmp_path / "catalog.db")
    img = tmp_path / "img" / "kana_w0.8.png"
    img.parent.mkdir()
    img.write_bytes(b"\x89PNG not really")
    side = img.with_suffix(".json")
    side.write_text(json.dumps({"seed": 42, "cfg_scale": 1.0, "my_private_key": {"keep": [1, 2]}}))
    c.rid = add_result(c, str(img), sidecar_path=str(side), seed=42,
                       chars=[("left", "Kanachan"), ("right", "Reina")])
    bare = tmp_path / "img" / "comfy_00001_.png"
    bare.write_bytes(b"\x89PNG")
    c.bare = add_result(c, str(bare))
    c.img, c.side, c.bare_img = img, side, bare
    yield c
    c.close()


def sidecar(cat):
    return json.loads(cat.side.read_text())


def test_annotation_by_character_name_goes_to_catalog_and_sidecar(cat):
    aid = add_annotation(cat, cat.rid, "Kanachan", "side_ponytail", "migrated", target="Reina", note="tip only")
    with cat.session() as s:
        a = s.get(Annotation, aid)
    assert (a.slot, a.target, a.outcome, a.author) == ("left", "right", "migrated", "user")
    data = sidecar(cat)
    assert data["my_private_key"] == {"keep": [1, 2]} and data["cfg_scale"] == 1.0  # unknown keys kept
    (entry,) = data["annotations"]
    assert entry["id"] == aid and entry["slot"] == "left" and entry["target"] == "right"
    assert entry["note"] == "tip only" and entry["created_at"].endswith("+00:00")
    assert count(cat, "feature:side_ponytail=migrated char:kanachan") == 1
    with cat.session() as s:
        r = s.get(Result, cat.rid)
    assert r.sidecar_size == cat.side.stat().st_size  # the importer will not see it as changed


def test_slot_forms_and_validation(cat):
    assert add_annotation(cat, cat.rid, "right", "ahoge", "present")
    assert add_annotation(cat, cat.rid, "0", "hair_color", "color_drift", color="orange")
    with pytest.raises(AnnotationError, match="its characters: left \\(Kanachan\\), right \\(Reina\\)"):
        add_annotation(cat, cat.rid, "Lily", "ahoge", "present")
    with pytest.raises(AnnotationError, match="needs a target"):
        add_annotation(cat, cat.rid, "left", "ahoge", "duplicated")
    with pytest.raises(AnnotationError, match="needs the colour"):
        add_annotation(cat, cat.rid, "left", "ahoge", "color_drift")
    with pytest.raises(AnnotationError, match="unknown outcome"):
        add_annotation(cat, cat.rid, "left", "ahoge", "bled")
    with pytest.raises(AnnotationError, match="no result with id"):
        add_annotation(cat, 999, "left", "ahoge", "present")
    assert len(sidecar(cat)["annotations"]) == 2


def test_duplicated_to_several_slots(cat):
    aid = add_annotation(cat, cat.rid, "left", "ahoge", "duplicated", target="right,Kanachan")
    with cat.session() as s:
        assert s.get(Annotation, aid).target == "right,left"


def test_image_without_sidecar_gets_one_with_only_gentui_keys(cat):
    add_annotation(cat, cat.bare, "left", "ahoge", "artifact")
    add_tags(cat, [cat.bare], ["collapse"])
    set_rating(cat, cat.bare, 2)
    made = cat.bare_img.with_suffix(".json")
    data = json.loads(made.read_text())
    assert set(data) == {"annotations", "tags", "rating"}
    assert data["tags"] == ["collapse"] and data["rating"] == 2
    assert cat.bare_img.read_bytes() == b"\x89PNG"  # the image is never rewritten


def test_remove_annotation(cat):
    a1 = add_annotation(cat, cat.rid, "left", "ahoge", "present")
    a2 = add_annotation(cat, cat.rid, "right", "ahoge", "missing")
    remove_annotation(cat, a1)
    assert [e["id"] for e in sidecar(cat)["annotations"]] == [a2]
    with cat.session() as s:
        assert s.get(Annotation, a1) is None
    with pytest.raises(AnnotationError):
        remove_annotation(cat, a1)


def test_remove_annotation_matches_content_after_rebuild(cat):
    aid = add_annotation(cat, cat.rid, "left", "ahoge", "present")
    data = sidecar(cat)
    data["annotations"][0]["id"] = 12345  # ids change when the catalog is rebuilt
    cat.side.write_text(json.dumps(data))
    remove_annotation(cat, aid)
    assert sidecar(cat)["annotations"] == []


def test_tags_add_remove_many(cat):
    add_tags(cat, [cat.rid, cat.bare], ["keeper", "bleed"])
    add_tags(cat, [cat.rid], ["bleed"])
    assert sidecar(cat)["tags"] == ["bleed", "keeper"]
    assert count(cat, "tag:bleed") == 2
    remove_tags(cat, [cat.rid], ["bleed", "absent"])
    assert sidecar(cat)["tags"] == ["keeper"]
    with cat.session() as s:
        assert sorted(s.exec(select(Tag.tag).where(Tag.result_id == cat.rid))) == ["keeper"]
    for bad in (["two words"], ["a,b"], [""], []):
        with pytest.raises(AnnotationError):
            add_tags(cat, [cat.rid], bad)


def test_rating(cat):
    set_rating(cat, cat.rid, 5)
    assert sidecar(cat)["rating"] == 5 and count(cat, "rating:5") == 1
    set_rating(cat, cat.rid, None)
    assert "rating" not in sidecar(cat) and count(cat, "rating:none") == 2
    for bad in (6, -1, True, "3"):
        with pytest.raises(AnnotationError):
            set_rating(cat, cat.rid, bad)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_sidecar_write_failure_rolls_back(cat):
    add_tags(cat, [cat.rid], ["keeper"])
    before = cat.side.read_bytes()
    folder = cat.side.parent
    folder.chmod(0o555)
    try:
        with pytest.raises(AnnotationError, match="cannot write the sidecar.*nothing was changed"):
            add_tags(cat, [cat.bare, cat.rid], ["bleed"])
        with pytest.raises(AnnotationError, match="cannot write"):
            add_annotation(cat, cat.rid, "left", "ahoge", "present")
    finally:
        folder.chmod(0o755)
    assert cat.side.read_bytes() == before
    assert count(cat, "tag:bleed") == 0 and count(cat, "feature:ahoge") == 0


def test_sidecar_failure_rolls_back_even_as_root(cat):
    """A sidecar that is not JSON cannot be updated: refused, catalog unchanged, file untouched."""
    add_tags(cat, [cat.rid], ["keeper"])
    cat.side.write_text("{not json")
    with pytest.raises(AnnotationError, match="nothing was changed"):
        add_tags(cat, [cat.bare, cat.rid], ["bleed"])
    assert cat.side.read_text() == "{not json"
    assert not cat.bare_img.with_suffix(".json").exists()  # the first result's new sidecar was undone
    assert count(cat, "tag:bleed") == 0


def test_resolve_results_by_id_and_path(cat, monkeypatch):
    assert [r.id for r in resolve_results(cat, [str(cat.rid), cat.bare])] == [cat.rid, cat.bare]
    monkeypatch.chdir(cat.img.parent)
    assert [r.id for r in resolve_results(cat, ["kana_w0.8.png", str(cat.side)])] == [cat.rid]
    with pytest.raises(AnnotationError, match="not in the catalog: 999, nope.png"):
        resolve_results(cat, ["999", "nope.png", str(cat.rid)])
