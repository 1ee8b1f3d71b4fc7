"""`gentui import` on the command line: summary, --json, exit status, a catalog that is not SQLite."""

from __future__ import annotations

import json

from catalog_import_fixtures import write_pair

from gentui.cli import main
from gentui.config import load_settings


def test_import_summary_and_idempotent_rerun(tmp_path, capsys):
    out = tmp_path / "out"
    write_pair(out, "a")
    write_pair(out, "b", color=(3, 3, 3))
    assert main(["import", str(out)]) == 0
    text = capsys.readouterr().out
    assert "imported 2, updated 0, skipped 0 unchanged, failed 0" in text
    assert main(["import", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert (rep["imported"], rep["skipped"], rep["failed"]) == (0, 2, [])
    assert any(load_settings(None).thumbnail_dir.rglob("*.jpg"))


def test_failures_listed_and_exit_1(tmp_path, capsys):
    out = tmp_path / "out"
    write_pair(out, "a")
    write_pair(out, "bad")
    (out / "bad.json").write_text("{")
    assert main(["import", str(out), "--no-thumbnails"]) == 1
    text = capsys.readouterr().out
    assert "failed:" in text and "bad.png" in text and "invalid JSON" in text
    assert "imported 1" in text


def test_rebuild_flag(tmp_path, capsys):
    out = tmp_path / "out"
    img = write_pair(out, "a")
    assert main(["import", str(out), "-q"]) == 0
    img.unlink()
    (out / "a.json").unlink()
    assert main(["import", str(out), "--rebuild", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["removed"] == 1


def test_catalog_that_is_not_sqlite(tmp_path, capsys):
    cat = load_settings(None).catalog_path
    cat.parent.mkdir(parents=True, exist_ok=True)
    cat.write_bytes(b"my notes, not a database")
    assert main(["import", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not a SQLite database" in err
    assert cat.read_bytes() == b"my notes, not a database"


def test_no_path_imports_the_output_folder(capsys):
    out = load_settings(None).output_dir
    write_pair(out / "sweep1", "x")
    assert main(["import", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["imported"] == 1
    assert "output folder" in captured.err
