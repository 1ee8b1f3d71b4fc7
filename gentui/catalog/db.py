"""Opening the catalog: one SQLite file shared by the TUI, workers and `gentui import`.

WAL mode and a busy timeout let several processes read and write at once.
The schema carries a version; `MIGRATIONS` brings an older catalog up to date
when it is opened, so a catalog made by an older gentui keeps working.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from gentui.catalog import migrations
from gentui.catalog import models  # noqa: F401  (registers the tables)

SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 15_000


class CatalogError(Exception):
    """The catalog file cannot be used; the message says which file and why."""


# version n -> function that upgrades a catalog at version n to n + 1.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: migrations.typed_job_params,
}


def _set_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-32000")
    cur.close()


def _check_sqlite_file(path: Path) -> None:
    if not path.exists():
        return
    if path.is_dir():
        raise CatalogError(f"{path}: is a folder, expected a SQLite catalog file")
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as e:
        raise CatalogError(f"{path}: cannot read the catalog: {e.strerror}") from None
    if head and head != b"SQLite format 3\x00":
        raise CatalogError(
            f"{path}: not a SQLite database (starts with {head[:8]!r}); "
            "point paths.catalog at another file or move this one away"
        )


class Catalog:
    """An open catalog: an engine plus helpers for sessions and raw connections."""

    def __init__(self, path: Path, engine: Engine):
        self.path = path
        self.engine = engine

    def connect(self) -> sqlite3.Connection:
        """A plain sqlite3 connection with the catalog's pragmas (autocommit; `with conn:` is a transaction).

        For code that must not pay SQLAlchemy's import and per-statement cost (the job store).
        The caller closes it.
        """
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        _set_pragmas(conn, None)
        return conn

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return _read_version(conn)

    def close(self) -> None:
        self.engine.dispose()


def _read_version(conn: Connection) -> int:
    row = conn.execute(text("SELECT value FROM meta WHERE key='schema_version'")).first()
    return int(row[0]) if row else 0


def open_catalog(path: str | Path, *, create: bool = True) -> Catalog:
    """Open (and create or migrate) the catalog at `path`.

    Raises CatalogError for a file that is not SQLite, a catalog newer than this
    gentui, or a folder that cannot be written.
    """
    p = Path(path).expanduser()
    _check_sqlite_file(p)
    if not p.exists():
        if not create:
            raise CatalogError(f"{p}: no catalog here (run `gentui import` or start gentui to create one)")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CatalogError(f"{p.parent}: cannot create the catalog folder: {e.strerror}") from None
    engine = create_engine(
        f"sqlite:///{p}",
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _set_pragmas)
    try:
        _upgrade(engine, p)
    except sqlite3.DatabaseError as e:  # pragma: no cover - raw driver error
        engine.dispose()
        raise CatalogError(f"{p}: not a usable SQLite catalog: {e}") from None
    except Exception as e:
        engine.dispose()
        if isinstance(e, CatalogError):
            raise
        from sqlalchemy.exc import DatabaseError, OperationalError

        if isinstance(e, (DatabaseError, OperationalError)):
            raise CatalogError(f"{p}: not a usable SQLite catalog: {e.orig}") from None
        raise
    return Catalog(p, engine)


def _upgrade(engine: Engine, path: Path) -> None:
    with engine.begin() as conn:
        has_meta = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'")
        ).first()
        has_any = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table'")).first()
        version = _read_version(conn) if has_meta else 0
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{path}: catalog schema version {version} is newer than this gentui "
                f"understands ({SCHEMA_VERSION}); upgrade gentui"
            )
        if has_any and not has_meta:
            raise CatalogError(f"{path}: a SQLite file but not a gentui catalog (no meta table)")
        while has_meta and version < SCHEMA_VERSION:
            step = MIGRATIONS.get(version)
            if step is None:
                raise CatalogError(f"{path}: no migration from schema version {version}")
            step(conn)
            version += 1
            _write_version(conn, version)
    # create_all adds any table that is new in this version (and everything on a new file)
    SQLModel.metadata.create_all(engine)
    # ... and any index added since the catalog was made (create_all skips existing tables)
    for table in SQLModel.metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    with engine.begin() as conn:
        if _read_version(conn) == 0:
            _write_version(conn, SCHEMA_VERSION)


def _write_version(conn: Connection, version: int) -> None:
    conn.execute(
        text("INSERT INTO meta(key, value) VALUES('schema_version', :v) "
             "ON CONFLICT(key) DO UPDATE SET value=excluded.value"),
        {"v": str(version)},
    )
