"""`gentui query` and `gentui tag` through the real command line entry point."""

from __future__ import annotations

import csv
import io
import json

import pytest
from query_fixtures import small_catalog

from gentui.cli import main
from gentui.config import load_settings


@pytest.fixture
def cat(gentui_home, tmp_path):
    path = load_settings(None).catalog_path
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = tmp_path / "imgs"
    folder.mkdir()
    c, ids = small_catalog(folder)
    c.close()
    (folder / "catalog.db").rename(path)
    for suffix in ("-wal", "-shm"):
        src = folder / f"catalog.db{suffix}"
        if src.exists():
            src.rename(str(path) + suffix)
    from gentui.catalog.db import open_catalog

    c = open_catalog(path)
    c.ids, c.folder = ids, folder
    yield c
    c.close()


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_shows_weights_as_typed(cat, capsys):
    code, out, _ = run(capsys, "query", "w:0.6,none", "--sort", "id", "--asc")
    assert code == 0
    assert "0.6" in out and "0.6000000000000001" not in out and "0.6000004" not in out
    assert "none" in out and "3 results" in out


def test_count(cat, capsys):
    assert run(capsys, "query", "tag:bleed", "--count")[:2] == (0, "2\n")
    assert run(capsys, "query", "--count")[1] == "6\n"


def test_json_lines_carry_the_sidecar(cat, capsys):
    a_png = cat.folder / "a.png"
    side = a_png.with_suffix(".json")
    side.write_text(json.dumps({"seed": 1293127692, "lora_strength": 0.6000000000000001, "mystery": [1]}))
    with cat.session() as s:
        from gentui.catalog.models import Result

        r = s.get(Result, cat.ids["a"])
        r.sidecar_path = str(side)
        s.add(r)
        s.commit()
    code, out, _ = run(capsys, "query", "seed:1293127692,42", "--format", "json", "--sort", "id", "--asc")
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and [x["id"] for x in lines] == [cat.ids["a"], cat.ids["b"], cat.ids["c"]]
    assert lines[0]["path"] == str(a_png) and lines[0]["mystery"] == [1]
    assert lines[1]["seed"] == 42 and lines[1]["tags"] == ["bleed", "keeper"] and lines[1]["lora_strength"] == 0.8
    assert "file_mtime_ns" not in lines[1]


def test_csv_and_markdown(cat, capsys):
    code, out, _ = run(capsys, "query", "sweep:kana-2girls", "--format", "csv", "--sort", "weight", "--asc")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["weight"] for r in rows] == ["0.6", "0.8"]
    assert rows[0]["size"] == "888x768" and rows[1]["tags"] == "bleed,keeper"
    code, out, _ = run(capsys, "query", "sweep:kana-2girls", "--format", "md", "--sort", "weight", "--asc")
    lines = out.splitlines()
    assert lines[0].startswith("| id | date | seed | weight |") and lines[1].startswith("|---:|")
    assert "| 0.6 |" in lines[2] and "| 0.8 |" in lines[3] and len(lines) == 4


def test_limit_offset_and_all(cat, capsys):
    assert len(run(capsys, "query", "--format", "csv", "--limit", "2")[1].splitlines()) == 3
    out = run(capsys, "query", "--format", "csv", "--limit", "2", "--offset", "5")[1]
    assert len(out.splitlines()) == 2
    assert len(run(capsys, "query", "--format", "csv", "--limit", "0")[1].splitlines()) == 7


def test_query_mistake_exit_2_with_caret(cat, capsys):
    code, out, err = run(capsys, "query", "w:0.6 lyaout:side")
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert "column 7" in lines[0] and "'lyaout:side'" in lines[0] and "did you mean 'layout'" in lines[0]
    assert lines[1] == "  w:0.6 lyaout:side" and lines[2] == "  " + " " * 6 + "^"
    assert lines[3].startswith("valid keys: ") and "w/weight" in lines[3]
    assert run(capsys, "query", '"open quote')[0] == 2
    assert run(capsys, "query", "", "--limit", "-1")[0] == 2


def test_query_without_catalog_fails_cleanly(gentui_home, capsys):
    code, _out, err = run(capsys, "query", "tag:x")
    assert code == 1 and "no catalog" in err


def test_tag_writes_catalog_and_sidecar(cat, capsys):
    img = cat.folder / "a.png"
    side = img.with_suffix(".json")
    side.write_text(json.dumps({"seed": 1293127692, "text_ja": "青いリボン", "unknown_thing": {"x": 1}}))
    with cat.session() as s:
        from gentui.catalog.models import Result

        r = s.get(Result, cat.ids["a"])
        r.sidecar_path = str(side)
        s.add(r)
        s.commit()
    code, out, err = run(capsys, "tag", str(img), "--char", "Lily", "--feature", "side_ponytail",
                         "--outcome", "duplicated", "--target", "Reina", "--note", "both sides")
    assert code == 0, err
    assert "annotation" in out
    code, out, err = run(capsys, "tag", str(cat.ids["a"]), "--add", "keeper,bleed", "--rating", "5")
    assert code == 0, err
    data = json.loads(side.read_text())
    assert data["unknown_thing"] == {"x": 1} and data["text_ja"] == "青いリボン"
    assert data["tags"] == ["bleed", "keeper"] and data["rating"] == 5
    assert data["annotations"][-1]["outcome"] == "duplicated" and data["annotations"][-1]["target"] == "right"
    assert run(capsys, "query", "feature:side_ponytail=duplicated tag:keeper rating:5", "--count")[1] == "1\n"
    code, out, err = run(capsys, "tag", str(cat.ids["a"]), "--remove", "bleed")
    assert json.loads(side.read_text())["tags"] == ["keeper"]


def test_tag_by_query(cat, capsys):
    code, out, err = run(capsys, "tag", "--query", "sweep:kana-2girls", "--add", "reviewed")
    assert code == 0 and "matched 2 results" in err
    assert run(capsys, "query", "tag:reviewed", "--count")[1] == "2\n"
    # the images had no sidecar: one was made beside each, holding only what gentui adds
    made = json.loads((cat.folder / "b.json").read_text())
    assert made == {"tags": ["reviewed"]}


@pytest.mark.parametrize("argv,msg", [
    (["tag", "1"], "nothing to do"),
    (["tag", "1", "--char", "left"], "together"),
    (["tag", "1", "--rating", "9"], "0 to 5"),
    (["tag", "--add", "x"], "which results"),
    (["tag", "999", "--add", "x"], "not in the catalog: 999"),
    (["tag", "1", "--char", "Nobody", "--feature", "ahoge", "--outcome", "present"], "its characters"),
    (["tag", "1", "--char", "left", "--feature", "ahoge", "--outcome", "migrated"], "needs a target"),
    (["tag", "1", "--add", "two words"], "bad tag"),
    (["tag", "--query", "bogus:1", "--add", "x"], "unknown key"),
])
def test_tag_mistakes_exit_2(cat, capsys, argv, msg):
    code, _out, err = run(capsys, *argv)
    assert code == 2 and msg in err


def test_tag_bad_outcome_is_a_usage_error(cat, capsys):
    with pytest.raises(SystemExit) as e:
        main(["tag", "1", "--char", "left", "--feature", "ahoge", "--outcome", "bled"])
    assert e.value.code == 2
