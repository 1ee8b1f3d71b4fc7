"""One worker per backend across processes: a lease row in the catalog.

Acquisition is a single atomic statement (INSERT OR IGNORE, or an UPDATE that
compares the old token), so two workers started at the same instant cannot
both win. The holder refreshes `heartbeat_at` every few seconds; a lease whose
heartbeat is older than `stale_s`, or whose holder is a dead process on this
host, may be taken over.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gentui.catalog.db import Catalog

HEARTBEAT_S = 2.0
STALE_S = 15.0


def holder_id() -> str:
    """`pid@host` of this process."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(dt: datetime) -> str:
    # The same textual form SQLAlchemy uses for DateTime columns on SQLite.
    return dt.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse(value: object) -> datetime:
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class LeaseInfo:
    """Who holds a backend's lease."""

    backend: str
    holder: str
    token: str
    acquired_at: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        since = self.acquired_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        age = (_now() - self.heartbeat_at).total_seconds()
        return f"backend {self.backend} is held by worker {self.holder} since {since} (heartbeat {age:.0f} s ago)"


class LeaseHeld(Exception):
    """Another live worker holds the lease; the message says who and since when."""

    def __init__(self, info: LeaseInfo):
        super().__init__(info.describe())
        self.info = info


def _pid_dead_here(holder: str) -> bool:
    """True when `holder` is a process on this host that no longer exists."""
    pid_text, _, host = holder.partition("@")
    if host != socket.gethostname():
        return False
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields[0] == b"Z"
    except (OSError, IndexError):
        return False


@contextmanager
def _sql(catalog: Catalog, write: bool = False) -> Iterator[Any]:
    """A connection to the lease table (a write transaction when `write`)."""
    conn = catalog.connect()
    try:
        if write:
            conn.execute("BEGIN IMMEDIATE")
        yield conn
        if write:
            conn.execute("COMMIT")
    finally:
        conn.close()


def read_lease(catalog: Catalog, backend: str) -> LeaseInfo | None:
    with _sql(catalog) as conn:
        row = conn.execute("SELECT backend, holder, token, acquired_at, heartbeat_at FROM lease WHERE backend=?",
                           (backend,)).fetchone()
    if row is None:
        return None
    return LeaseInfo(row[0], row[1], row[2], _parse(row[3]), _parse(row[4]))


def list_leases(catalog: Catalog) -> list[LeaseInfo]:
    with _sql(catalog) as conn:
        rows = conn.execute("SELECT backend, holder, token, acquired_at, heartbeat_at FROM lease").fetchall()
    return [LeaseInfo(r[0], r[1], r[2], _parse(r[3]), _parse(r[4])) for r in rows]


def is_live(info: LeaseInfo, stale_s: float = STALE_S) -> bool:
    """A lease counts while its heartbeat is fresh and its holder is not known dead."""
    if (_now() - info.heartbeat_at).total_seconds() > stale_s:
        return False
    return not _pid_dead_here(info.holder)


def acquire(catalog: Catalog, backend: str, stale_s: float = STALE_S, holder: str | None = None) -> Lease:
    """Take the backend's lease or raise LeaseHeld naming the live holder."""
    holder = holder or holder_id()
    token = uuid.uuid4().hex
    now = _fmt(_now())
    with _sql(catalog, write=True) as conn:
        inserted = conn.execute("INSERT OR IGNORE INTO lease(backend, holder, token, acquired_at, heartbeat_at) "
                                "VALUES(?, ?, ?, ?, ?)", (backend, holder, token, now, now)).rowcount
    if inserted == 1:
        return Lease(catalog, backend, holder, token)
    info = read_lease(catalog, backend)
    if info is None:  # released between our insert and read: try once more
        return acquire(catalog, backend, stale_s, holder)
    if is_live(info, stale_s):
        raise LeaseHeld(info)
    with _sql(catalog, write=True) as conn:
        taken = conn.execute("UPDATE lease SET holder=?, token=?, acquired_at=?, heartbeat_at=? "
                             "WHERE backend=? AND token=?", (holder, token, now, now, backend, info.token)).rowcount
    if taken != 1:
        info = read_lease(catalog, backend)
        if info is None:
            return acquire(catalog, backend, stale_s, holder)
        raise LeaseHeld(info)
    return Lease(catalog, backend, holder, token)


class LeaseLost(Exception):
    """Our lease was taken over (we were presumed dead); stop running this lane."""


class Lease:
    """A held lease: heartbeat it, release it."""

    def __init__(self, catalog: Catalog, backend: str, holder: str, token: str):
        self.catalog = catalog
        self.backend = backend
        self.holder = holder
        self.token = token
        self.released = False

    def heartbeat(self) -> None:
        """Refresh the heartbeat; LeaseLost if someone else holds it now."""
        with _sql(self.catalog, write=True) as conn:
            n = conn.execute("UPDATE lease SET heartbeat_at=? WHERE backend=? AND token=?",
                             (_fmt(_now()), self.backend, self.token)).rowcount
        if n != 1:
            raise LeaseLost(f"lease on backend {self.backend} was taken over by another worker")

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        with _sql(self.catalog, write=True) as conn:
            conn.execute("DELETE FROM lease WHERE backend=? AND token=?", (self.backend, self.token))


def age_for_test(catalog: Catalog, backend: str, seconds: float) -> None:
    """Push a lease's heartbeat into the past (tests and `jobs` diagnostics)."""
    with _sql(catalog, write=True) as conn:
        conn.execute("UPDATE lease SET heartbeat_at=? WHERE backend=?", (_fmt(_now() - timedelta(seconds=seconds)), backend))
