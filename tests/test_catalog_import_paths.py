"""`import_paths` / `index_image` on real folders and a real SQLite catalog: idempotency, rebuild, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from catalog_import_fixtures import (
    anima_graph,
    comfy_png,
    genserver_sidecar,
    write_pair,
    write_png,
)

from gentui.catalog.db import open_catalog
from gentui.catalog.importer import ImportFailed, import_paths, index_image
from gentui.catalog.thumbnails import thumbnail_path


@pytest.fixture
def cat(tmp_path):
    c = open_catalog(tmp_path / "catalog.db")
    yield c
    c.close()


def q(cat, sql, *args):
    con = cat.engine.raw_connection()
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def test_genserver_pairs_imported_with_children_and_thumbnails(tmp_path, cat):
    out = tmp_path / "out"
    side = genserver_sidecar(tags=["bleed"], annotations=[
        {"slot": "left", "feature": "side_ponytail", "outcome": "migrated", "target": "right", "note": "n",
         "author": "user", "created_at": "2026-03-01T10:00:00Z"}], my_unknown_key={"deep": [1, "x"]})
    img = write_pair(out, "a", side)
    write_pair(out / "sub", "b", genserver_sidecar(use_lora=False, seed=7), color=(1, 2, 3))
    rep = import_paths(cat, [out], tmp_path / "thumbs")
    assert (rep.imported, rep.updated, rep.skipped, rep.failed) == (2, 0, 0, [])
    (rid, lw, sha, thumb, src), = q(cat, "SELECT id, lora_strength, sha256, thumb, source_format FROM result WHERE path=?", str(img))
    assert lw == 0.6 and thumb == sha and src == "sidecar"
    assert thumbnail_path(tmp_path / "thumbs", thumb).is_file()
    assert q(cat, "SELECT lora_strength, use_lora FROM result WHERE seed=7") == [(None, 0)]
    assert q(cat, "SELECT slot, name FROM character WHERE result_id=? ORDER BY idx", rid) == [("left", "Kanachan"), ("right", "Reina")]
    assert q(cat, "SELECT tag FROM tag WHERE result_id=?", rid) == [("bleed",)]
    assert q(cat, "SELECT feature, outcome, target FROM annotation WHERE result_id=?", rid) == [("side_ponytail", "migrated", "right")]
    assert q(cat, "SELECT num, text FROM field_value WHERE result_id=? AND key='my_unknown_key.deep.0'", rid) == [(1.0, "1")]
    # the ORM reads what the raw writer wrote (datetimes, booleans)
    from sqlmodel import select

    from gentui.catalog.models import Annotation, Result

    with cat.session() as s:
        r = s.get(Result, rid)
        assert r.use_lora is True and r.named is True and r.created_at.year >= 2026
        assert s.exec(select(Annotation)).one().created_at.month == 3


def test_reimport_is_idempotent_and_updates_changed_sidecars(tmp_path, cat):
    out = tmp_path / "out"
    img = write_pair(out, "a")
    write_pair(out, "b", color=(9, 9, 9))
    import_paths(cat, [out], tmp_path / "thumbs")
    (rid,), = q(cat, "SELECT id FROM result WHERE path=?", str(img))
    rep = import_paths(cat, [out], tmp_path / "thumbs")
    assert (rep.imported, rep.updated, rep.skipped) == (0, 0, 2)
    side = out / "a.json"
    side.write_text(json.dumps(genserver_sidecar(lora_strength=1.2, tags=["keeper"])))
    os.utime(side, ns=(1, 1_000_000_000_000))
    rep = import_paths(cat, [out], tmp_path / "thumbs")
    assert (rep.imported, rep.updated, rep.skipped) == (0, 1, 1)
    assert q(cat, "SELECT id, lora_strength FROM result WHERE path=?", str(img)) == [(rid, 1.2)]
    assert q(cat, "SELECT count(*) FROM result") == [(2,)]
    assert q(cat, "SELECT count(*) FROM character WHERE result_id=?", rid) == [(2,)]  # replaced, not doubled
    assert q(cat, "SELECT tag FROM tag WHERE result_id=?", rid) == [("keeper",)]
    n_fields = q(cat, "SELECT count(*) FROM field_value WHERE result_id=?", rid)
    import_paths(cat, [out], tmp_path / "thumbs", rebuild=True)
    assert q(cat, "SELECT count(*) FROM field_value WHERE result_id=?", rid) == n_fields


def test_rebuild_recreates_index_from_sidecars_and_drops_vanished(tmp_path, cat):
    out = tmp_path / "out"
    img = write_pair(out, "a", genserver_sidecar(annotations=[{"slot": "left", "feature": "ahoge", "outcome": "present"}]))
    gone = write_pair(out, "b", color=(5, 5, 5))
    import_paths(cat, [out], tmp_path / "thumbs")
    con = cat.engine.raw_connection()
    con.execute("DELETE FROM annotation")
    con.execute("UPDATE result SET seed=1")
    con.execute("INSERT INTO sweep (name, spec, axes, created_at) VALUES ('kept', '{}', '{}', '2026-01-01 00:00:00')")
    con.commit()
    con.close()
    gone.unlink()
    gone.with_suffix(".json").unlink()
    rep = import_paths(cat, [out], tmp_path / "thumbs", rebuild=True)
    assert (rep.updated, rep.removed) == (1, 1)
    assert q(cat, "SELECT path, seed FROM result") == [(str(img), 1293127692)]
    assert q(cat, "SELECT feature FROM annotation") == [("ahoge",)]
    assert q(cat, "SELECT name FROM sweep") == [("kept",)]


def test_index_image_returns_id_and_links_sweep(tmp_path, cat):
    con = cat.engine.raw_connection()
    con.execute("INSERT INTO sweep (name, spec, axes, created_at) VALUES ('kana-2girls', '{}', '{}', '2026-01-01 00:00:00')")
    con.commit()
    con.close()
    img = write_pair(tmp_path, "x", genserver_sidecar(sweep="kana-2girls", job_id=3, workflow="anima", backend="local"))
    rid = index_image(cat, img, tmp_path / "thumbs")
    assert q(cat, "SELECT sweep_id, sweep_name, job_id, workflow FROM result WHERE id=?", rid) == [(1, "kana-2girls", 3, "anima")]
    assert index_image(cat, img, tmp_path / "thumbs") == rid
    with pytest.raises(ImportFailed, match="not found"):
        index_image(cat, tmp_path / "missing.png", None)


def test_mflux_image_with_metadata_json(tmp_path, cat):
    write_png(tmp_path / "mf" / "o_7.png")
    meta = {"mflux_version": "0.24.0", "model": "flux2-klein-4b", "base_model": "flux2", "seed": 7, "steps": 4,
            "guidance": 1.0, "height": 48, "width": 64, "precision": "mlx.core.bfloat16", "quantize": 8,
            "generation_time_seconds": 41.52, "created_at": "2026-11-20T10:11:12.123456",
            "lora_paths": ["/loras/kanachan-v4.safetensors", "/loras/klein-turbo.safetensors"], "lora_scales": [0.8, 1.0],
            "image_path": None, "prompt": PROMPT, "negative_prompt": None}
    (tmp_path / "mf" / "o_7.metadata.json").write_text(json.dumps(meta, indent=4))
    rep = import_paths(cat, [tmp_path / "mf"], None)
    assert rep.imported == 1 and rep.failed == []
    row = q(cat, "SELECT backend, model, seed, steps, cfg, lora_name, lora_strength, speed_lora_name, elapsed_s, "
                 "n_characters, source_format, sidecar_path FROM result")[0]
    assert row == ("mflux", "flux2-klein-4b", 7, 4, 1.0, "kanachan-v4.safetensors", 0.8, "klein-turbo.safetensors",
                   41.52, 2, "mflux", str(tmp_path / "mf" / "o_7.metadata.json"))
    assert q(cat, "SELECT text FROM field_value WHERE key='mflux.quantize'") == [("8",)]


PROMPT = json.dumps({"left_character": {"name": "A"}, "right_character": {"name": "B"}})


def test_older_mflux_names_and_sidecar_wins(tmp_path, cat):
    write_png(tmp_path / "m" / "x.png")
    (tmp_path / "m" / "x.metadata.json").write_text(json.dumps(
        {"model_config": "dev", "seed": 1, "generation_time": "12.5 seconds", "size": "64x48", "lora_paths": None,
         "prompt": "cat"}))
    (tmp_path / "m" / "x.json").write_text(json.dumps({"seed": 99, "tags": ["keeper"]}))
    import_paths(cat, [tmp_path / "m"], None)
    assert q(cat, "SELECT model, seed, elapsed_s, prompt_en, use_lora, source_format FROM result") == [
        ("dev", 99, 12.5, "cat", 0, "sidecar")]


def test_bad_inputs_are_reported_and_the_rest_carries_on(tmp_path, cat):
    out = tmp_path / "out"
    good = write_pair(out, "good")
    write_pair(out, "truncjson")
    (out / "truncjson.json").write_text('{"seed": 12, "model": "x')
    write_pair(out, "list", [1, 2])
    bad_png = out / "trunc.png"
    bad_png.write_bytes(comfy_png(tmp_path / "src.png", anima_graph(), size=(300, 300), color=(1, 200, 3))
                        .read_bytes()[:-400])
    (out / "notpng.png").write_bytes(b"hello, I am text")
    (out / "orphan.json").write_text("{}")
    write_pair(out, "types", genserver_sidecar(seed="x", steps=[1]))
    (out / "dirsidecar.png").write_bytes(good.read_bytes())
    (out / "dirsidecar.json").mkdir()  # a sidecar that cannot be read
    rep = import_paths(cat, [out, tmp_path / "nope"], tmp_path / "thumbs")
    failed = {Path(p).name: r for p, r in rep.failed}
    assert set(failed) == {"truncjson.png", "list.png", "trunc.png", "notpng.png", "orphan.json", "dirsidecar.png", "nope"}
    assert "line 1" in failed["truncjson.png"] and "truncjson.json" in failed["truncjson.png"]
    assert "expected a JSON object" in failed["list.png"]
    assert "decode" in failed["trunc.png"] and "decode" in failed["notpng.png"]
    assert "without an image" in failed["orphan.json"]
    assert {Path(p).name for p, _ in rep.warnings} == {"types.png"}
    assert rep.imported == 2
    assert q(cat, "SELECT height, seed FROM result WHERE path LIKE '%types.png'") == [(768, None)]


def test_failures_keep_existing_rows(tmp_path, cat):
    out = tmp_path / "out"
    img = write_pair(out, "a", genserver_sidecar(tags=["keeper"]))
    import_paths(cat, [out], None)
    (out / "a.json").write_text('{"seed": ')  # half-written
    rep = import_paths(cat, [out], None)
    assert len(rep.failed) == 1
    assert q(cat, "SELECT seed FROM result WHERE path=?", str(img)) == [(1293127692,)]
    assert q(cat, "SELECT tag FROM tag") == [("keeper",)]


def test_symlink_loop_and_non_utf8_names(tmp_path, cat):
    out = tmp_path / "out"
    write_pair(out / "a", "x")
    os.symlink(out, out / "a" / "loop")
    os.symlink(out / "a" / "nowhere.png", out / "dangling.png")
    raw = os.fsencode(out) + b"/bad\xff.png"
    with open(raw, "wb") as f:
        f.write((out / "a" / "x.png").read_bytes())
    rep = import_paths(cat, [out], None)
    assert rep.imported == 1
    assert any("already walked" in r for _, r in rep.warnings)
    reasons = dict(rep.failed)
    assert reasons[str(out) + "/bad\\xff.png"].startswith("file name is not valid UTF-8")
    assert "broken symlink" in reasons[str(out / "dangling.png")]


def test_explicit_files_and_jpeg_webp(tmp_path, cat):
    from PIL import Image

    Image.new("RGB", (640, 480), (200, 10, 10)).save(tmp_path / "p.jpg", quality=90)
    Image.new("RGBA", (32, 32), (0, 0, 255, 128)).save(tmp_path / "q.webp")
    (tmp_path / "q.json").write_text(json.dumps(genserver_sidecar()))
    rep = import_paths(cat, [tmp_path / "p.jpg", tmp_path / "q.json"], tmp_path / "thumbs")
    assert rep.imported == 2 and rep.failed == []
    (w, h, thumb), = q(cat, "SELECT width, height, thumb FROM result WHERE path LIKE '%p.jpg'")
    assert (w, h) == (640, 480)
    from PIL import Image as I

    assert max(I.open(thumbnail_path(tmp_path / "thumbs", thumb)).size) == 256


def test_pool_path_matches_in_process(tmp_path, cat):
    """Enough pairs to use the worker pool: same rows as the in-process path."""
    from gentui.catalog import importer

    out = tmp_path / "many"
    for i in range(importer.POOL_MIN + 10):
        write_pair(out, f"g{i:04d}", genserver_sidecar(seed=i), color=(i % 256, i // 256, 0))
    seen = []
    rep = import_paths(cat, [out], tmp_path / "thumbs", progress=lambda d, t: seen.append((d, t)))
    assert rep.imported == importer.POOL_MIN + 10 and rep.failed == []
    assert seen[0] == (0, rep.imported) and seen[-1] == (rep.imported, rep.imported)
    assert q(cat, "SELECT count(DISTINCT seed), count(DISTINCT thumb) FROM result") == [(rep.imported, rep.imported)]


def test_same_file_through_a_symlinked_folder_is_one_row(tmp_path, cat):
    real = tmp_path / "real"
    img = write_pair(real, "a")
    os.symlink(real, tmp_path / "link")
    import_paths(cat, [tmp_path / "link"], None)
    rid = index_image(cat, img, None)
    assert q(cat, "SELECT id, path FROM result") == [(rid, str(img))]


def test_thumbnails_made_later_for_pairs_imported_without(tmp_path, cat):
    out = tmp_path / "out"
    write_pair(out, "a")
    import_paths(cat, [out], None)
    assert q(cat, "SELECT thumb FROM result") == [(None,)]
    rep = import_paths(cat, [out], tmp_path / "thumbs")
    assert rep.updated == 1
    (thumb,), = q(cat, "SELECT thumb FROM result")
    path = thumbnail_path(tmp_path / "thumbs", thumb)
    assert path.is_file()
    path.unlink()  # a cleared thumbnail cache is refilled
    assert import_paths(cat, [out], tmp_path / "thumbs").updated == 1 and path.is_file()
    assert import_paths(cat, [out], tmp_path / "thumbs").skipped == 1


def test_rebuild_through_a_symlinked_folder_prunes_too(tmp_path, cat):
    real = tmp_path / "real"
    write_pair(real, "a")
    gone = write_pair(real, "b", color=(7, 7, 7))
    os.symlink(real, tmp_path / "link")
    import_paths(cat, [tmp_path / "link"], None)
    gone.unlink()
    assert import_paths(cat, [tmp_path / "link"], None, rebuild=True).removed == 1
    assert q(cat, "SELECT count(*) FROM result") == [(1,)]


def test_no_thumbnails_still_catches_truncated_and_corrupt_images(tmp_path, cat):
    from PIL import Image

    out = tmp_path / "out"
    good = write_pair(out, "good")
    data = good.read_bytes()
    (out / "cut.png").write_bytes(data[: data.index(b"IDAT") + 12])  # pixels cut short
    flipped = bytearray(data)
    flipped[data.index(b"IDAT") + 8] ^= 0xFF  # CRC no longer matches
    (out / "flip.png").write_bytes(bytes(flipped))
    Image.new("RGB", (40, 30), (9, 9, 9)).save(out / "ok.jpg")
    (out / "cut.jpg").write_bytes((out / "ok.jpg").read_bytes()[:-300])
    rep = import_paths(cat, [out], None)
    assert sorted(Path(p).name for p, _ in rep.failed) == ["cut.jpg", "cut.png", "flip.png"]
    assert q(cat, "SELECT width, height FROM result WHERE path LIKE '%ok.jpg'") == [(40, 30)]
