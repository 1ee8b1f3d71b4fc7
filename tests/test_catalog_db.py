"""Opening catalogs: creation, WAL, schema versions, migrations, files that are not catalogs."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from gentui.catalog import db
from gentui.catalog.db import CatalogError, open_catalog


def test_new_catalog_is_wal_and_versioned(tmp_path):
    cat = open_catalog(tmp_path / "c.db")
    assert cat.schema_version() == db.SCHEMA_VERSION
    with cat.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.BUSY_TIMEOUT_MS
    cat.close()


def test_not_sqlite_is_refused_and_left_alone(tmp_path):
    p = tmp_path / "c.db"
    p.write_bytes(b"this is my thesis, not a database")
    with pytest.raises(CatalogError, match="not a SQLite database"):
        open_catalog(p)
    assert p.read_bytes() == b"this is my thesis, not a database"


def test_foreign_sqlite_file_is_refused(tmp_path):
    p = tmp_path / "other.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    with pytest.raises(CatalogError, match="not a gentui catalog"):
        open_catalog(p)


def test_newer_catalog_is_refused(tmp_path):
    p = tmp_path / "c.db"
    open_catalog(p).close()
    con = sqlite3.connect(p)
    con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(CatalogError, match="newer than this gentui"):
        open_catalog(p)


def test_older_catalog_is_migrated(tmp_path, monkeypatch):
    """A catalog at the previous version opens, runs the migration, and keeps its rows."""
    p = tmp_path / "c.db"
    open_catalog(p).close()
    con = sqlite3.connect(p)
    con.execute("INSERT INTO result(path, status, created_at) VALUES ('/a.png', 'done', '2026-01-01 00:00:00')")
    con.commit()
    con.close()

    def add_column(conn):
        conn.execute(text("ALTER TABLE result ADD COLUMN future_col TEXT DEFAULT 'x'"))

    monkeypatch.setattr(db, "SCHEMA_VERSION", db.SCHEMA_VERSION + 1)
    monkeypatch.setitem(db.MIGRATIONS, db.SCHEMA_VERSION - 1, add_column)
    cat = open_catalog(p)
    assert cat.schema_version() == db.SCHEMA_VERSION
    with cat.engine.connect() as conn:
        assert conn.execute(text("SELECT path, future_col FROM result")).all() == [("/a.png", "x")]
    cat.close()
