"""The job store: every statement on the `job`, `job_attempt`, `sweep` and `queue_control` tables.

A job moves through `JobState`s only by the transitions in `TRANSITIONS`, each
one compare-and-set (`UPDATE ... WHERE state IN (...)`), so a user's cancel
always wins over a worker's late write and two processes never both move a
job. A transition made for one attempt of a job (the lane's: start, finish,
withdraw) also names that attempt's prompt id and the lane's lease token: a
follower of an earlier attempt, or a worker whose lease was taken over while
it slept, changes nothing. Every attempt is a `job_attempt` row that ends with
exactly one outcome.

Plain sqlite3 (no SQLAlchemy): `gentui jobs` starts fast, and the worker's
per-job statements cost microseconds.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gentui.catalog.db import Catalog
from gentui.params import JobParams


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    """Waiting for a lane."""
    SUBMITTED = "submitted"
    """Claimed by a lane and sent (or being sent) to its backend; not started there yet."""
    RUNNING = "running"
    """The backend is executing it."""
    RECORDING = "recording"
    """The backend has finished it; gentui is writing its image, sidecar and catalog row."""
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


S = JobState
ON_BACKEND = frozenset({S.SUBMITTED, S.RUNNING, S.RECORDING})
"""Claimed by a lane: an attempt is open."""
PENDING = frozenset({S.QUEUED, *ON_BACKEND})
"""Not finished yet."""
TERMINAL = frozenset({S.DONE, S.FAILED, S.CANCELLED, S.INTERRUPTED})
RETRYABLE = frozenset({S.FAILED, S.CANCELLED, S.INTERRUPTED})
QUEUE_ORDER = {S.RECORDING: 0, S.RUNNING: 1, S.SUBMITTED: 2, S.QUEUED: 3}


@dataclass(frozen=True)
class Transition:
    """A legal move: from any of `sources` to `target`; `attempt` moves are fenced by prompt id and lease."""

    sources: frozenset[JobState]
    target: JobState
    attempt: bool


TRANSITIONS: dict[str, Transition] = {
    "claim": Transition(frozenset({S.QUEUED}), S.SUBMITTED, False),
    "start": Transition(frozenset({S.SUBMITTED}), S.RUNNING, True),
    "finished": Transition(frozenset({S.SUBMITTED, S.RUNNING}), S.RECORDING, True),
    "done": Transition(frozenset({S.RECORDING}), S.DONE, True),
    "fail": Transition(frozenset(ON_BACKEND), S.FAILED, True),
    "interrupted": Transition(frozenset({S.SUBMITTED, S.RUNNING}), S.INTERRUPTED, True),
    "withdraw": Transition(frozenset({S.SUBMITTED, S.RUNNING, S.RECORDING}), S.QUEUED, True),
    "refuse": Transition(frozenset({S.QUEUED}), S.FAILED, False),
    "cancel": Transition(frozenset({S.QUEUED, S.SUBMITTED, S.RUNNING}), S.CANCELLED, False),
    "interrupt": Transition(frozenset({S.SUBMITTED, S.RUNNING}), S.INTERRUPTED, False),
    "retry": Transition(frozenset(RETRYABLE), S.QUEUED, False),
}
"""Every state change there is. `cancel` and `interrupt` are the user's and win over any attempt's move while
the job is on the server; once the server has finished it (`recording`) its image is saved, not discarded."""

ATTEMPT_OUTCOME = {S.DONE: "done", S.FAILED: "failed", S.INTERRUPTED: "interrupted", S.CANCELLED: "cancelled",
                   S.QUEUED: "withdrawn"}
"""How an open attempt ends when its job moves to each state."""


class JobError(ValueError):
    """A job command that cannot be done (unknown id, wrong state); the message says why."""


@dataclass(frozen=True)
class Fence:
    """A lane's right to move its attempts: the backend's lease token."""

    backend: str
    token: str


def now_text() -> str:
    """The timestamp form SQLAlchemy's DateTime columns use on SQLite (UTC, naive)."""
    return datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class JobRow:
    """One job as stored."""

    id: int
    sweep_id: int | None
    key_hash: str
    params_json: str = field(repr=False)
    label: str
    state: JobState
    backend: str | None
    position: float
    moved: bool
    attempts: int
    step: int
    total: int
    prompt_id: str | None
    error: str | None
    result_ids: list[int]
    created_at: datetime | None
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime | None

    @property
    def params(self) -> JobParams:
        return JobParams.from_json(self.params_json or "{}")

    @property
    def backend_prompt_id(self) -> str | None:
        return self.prompt_id


_COLS = ("id, sweep_id, key_hash, params, label, state, backend, position, moved, attempts, step, total, "
         "backend_prompt_id, error, result_ids, created_at, submitted_at, started_at, finished_at, updated_at")


def _row(r: Sequence[Any]) -> JobRow:
    ids = json.loads(r[14]) if isinstance(r[14], str) and r[14] else []
    params = r[3] if isinstance(r[3], str) else json.dumps(r[3] or {})
    return JobRow(int(r[0]), r[1], r[2], params, r[4] or "", JobState(r[5]), r[6], float(r[7] or 0), bool(r[8]),
                  int(r[9] or 0), int(r[10] or 0), int(r[11] or 0), r[12], r[13], [int(i) for i in ids],
                  parse_time(r[15]), parse_time(r[16]), parse_time(r[17]), parse_time(r[18]), parse_time(r[19]))


@dataclass(frozen=True)
class SweepRow:
    id: int
    name: str
    spec: dict[str, Any]
    axes: dict[str, Any]
    backend: str | None
    workflow: str | None
    created_at: datetime | None


@dataclass
class QueueReport:
    """What queueing a sweep did."""

    sweep_id: int
    added: list[int] = field(default_factory=list)
    rearmed: list[int] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)
    """State -> number of cells already there (not queued again)."""

    @property
    def queued(self) -> int:
        return len(self.added) + len(self.rearmed)


@dataclass
class SweepProgress:
    name: str
    total: int
    counts: dict[str, int]
    eta_s: float | None
    """Seconds until the remaining jobs are done, from the durations of done ones."""
    mean_s: float | None

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in TERMINAL)

    @property
    def is_finished(self) -> bool:
        return self.finished == self.total


@dataclass(frozen=True)
class Candidate:
    """A queued job a lane may claim next."""

    id: int
    sweep_id: int | None
    moved: bool
    params_json: str = field(repr=False)
    label: str

    @property
    def params(self) -> JobParams:
        return JobParams.from_json(self.params_json)


def _marks(values: Iterable[Any]) -> str:
    return ", ".join("?" for _ in values) or "NULL"


def _states(states: Iterable[JobState]) -> str:
    return ", ".join(f"'{JobState(s).value}'" for s in states)


class JobStore:
    """The one owner of the job tables. Thread-safe: one sqlite3 connection per thread."""

    def __init__(self, catalog: Catalog, lock_wait_s: float = 0.0):
        """`lock_wait_s`: how long a write keeps waiting for a catalog another process has locked, beyond
        SQLite's own busy timeout (the worker waits; a command gives up and says so)."""
        self.catalog = catalog
        self.lock_wait_s = lock_wait_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.catalog.connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: the write lock up front, so compare-and-set is atomic)."""
        conn = self._conn()
        deadline = time.monotonic() + self.lock_wait_s
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._conn().execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    # -- reading ------------------------------------------------------------------
    def get(self, job_id: int) -> JobRow:
        rows = self._read(f"SELECT {_COLS} FROM job WHERE id=?", (int(job_id),))
        if not rows:
            raise JobError(f"no job {job_id}")
        return _row(rows[0])

    def maybe(self, job_id: int) -> JobRow | None:
        try:
            return self.get(job_id)
        except JobError:
            return None

    def find_sweep(self, name: str) -> SweepRow:
        rows = self._read("SELECT id, name, spec, axes, backend, workflow, created_at FROM sweep WHERE name=?", (name,))
        if not rows:
            recent = [r[0] for r in self._read("SELECT name FROM sweep ORDER BY id DESC LIMIT 20")]
            raise JobError(f"no sweep named {name!r}; recent sweeps: {', '.join(recent) or 'none'}")
        r = rows[0]
        return SweepRow(r[0], r[1], json.loads(r[2] or "{}"), json.loads(r[3] or "{}"), r[4], r[5], parse_time(r[6]))

    def sweep_names(self, ids: Iterable[int | None] | None = None) -> dict[int, str]:
        if ids is None:
            return {r[0]: r[1] for r in self._read("SELECT id, name FROM sweep")}
        wanted = [i for i in set(ids) if i is not None]
        return {r[0]: r[1] for r in self._read(f"SELECT id, name FROM sweep WHERE id IN ({_marks(wanted)})", wanted)}

    def list(self, sweep: str | None = None, states: Iterable[str] | str | None = None, backend: str | None = None,
             limit: int | None = None) -> list[JobRow]:
        """Jobs in queue order: recording, running, submitted, then queued by position, then the rest newest first."""
        where, args = ["1=1"], []
        if sweep is not None:
            where.append("sweep_id=?")
            args.append(self.find_sweep(sweep).id)
        if states is not None:
            wanted = [states] if isinstance(states, str) else list(states)
            for st in wanted:
                if st not in JobState.__members__.values():
                    raise JobError(f"unknown state {st!r}; states are {', '.join(s.value for s in JobState)}")
            where.append(f"state IN ({_states(wanted)})")
        if backend is not None:
            where.append("backend=?")
            args.append(backend)
        rows = [_row(r) for r in self._read(f"SELECT {_COLS} FROM job WHERE {' AND '.join(where)}", args)]
        rows.sort(key=lambda j: (QUEUE_ORDER.get(j.state, 4), j.position if j.state in QUEUE_ORDER else -j.id))
        return rows[:limit] if limit else rows

    def active(self, limit: int = 300) -> tuple[list[JobRow], int]:
        """Unfinished jobs in queue order (at most `limit`) and how many there are in all."""
        pend = _states(PENDING)
        rows = [_row(r) for r in self._read(f"SELECT {_COLS} FROM job WHERE state IN ({pend}) "
                                            "ORDER BY position, id LIMIT ?", (limit,))]
        rows.sort(key=lambda j: (QUEUE_ORDER[j.state], j.position if j.state == S.QUEUED else j.id))
        count = self._read(f"SELECT COUNT(*) FROM job WHERE state IN ({pend})")[0][0]
        return rows, int(count)

    def recent_finished(self, n: int) -> list[JobRow]:
        return [_row(r) for r in self._read(f"SELECT {_COLS} FROM job WHERE state IN ({_states(TERMINAL)}) "
                                            "ORDER BY updated_at DESC LIMIT ?", (n,))]

    def states(self, ids: Iterable[int]) -> dict[int, tuple[JobState, str | None]]:
        """id -> (state, prompt id of its open attempt)."""
        ids = [int(i) for i in ids]
        return {r[0]: (JobState(r[1]), r[2]) for r in
                self._read(f"SELECT id, state, backend_prompt_id FROM job WHERE id IN ({_marks(ids)})", ids)}

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self._read("SELECT state, COUNT(*) FROM job GROUP BY state")}

    def waiting_for_translation(self) -> int:
        """Queued jobs whose prompt still has to be translated."""
        return int(self._read(
            "SELECT COUNT(*) FROM job WHERE state='queued' "
            "AND COALESCE(json_extract(params, '$.skip_translate'), 0) IN (0, 'false') "
            "AND COALESCE(json_extract(params, '$.prompt_en'), '') = ''")[0][0])

    def states_by_hash(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._read("SELECT key_hash, state FROM job")}

    def candidates(self, backend: str, include_any: bool, skip: Iterable[int] = (), window: int = 64) -> list[Candidate]:
        """The first queued jobs a lane may take, in queue order (its own, and any-backend ones when asked)."""
        skip = set(skip)
        any_clause = " OR backend IS NULL" if include_any else ""
        rows = self._read(f"SELECT id, sweep_id, moved, params, label FROM job WHERE state='queued' "
                          f"AND (backend=?{any_clause}) ORDER BY position, id LIMIT ?", (backend, window + len(skip)))
        return [Candidate(r[0], r[1], bool(r[2]), r[3] if isinstance(r[3], str) else json.dumps(r[3]), r[4] or "")
                for r in rows if r[0] not in skip][:window]

    def in_flight(self, backend: str) -> list[JobRow]:
        """Jobs with an open attempt on this backend, in queue order."""
        return [_row(r) for r in self._read(f"SELECT {_COLS} FROM job WHERE backend=? AND state IN "
                                            f"({_states(ON_BACKEND)}) ORDER BY position, id", (backend,))]

    def any_pending(self, backend: str) -> bool:
        return bool(self._read(f"SELECT 1 FROM job WHERE state IN ({_states(PENDING)}) "
                               "AND (backend=? OR backend IS NULL) LIMIT 1", (backend,)))

    def attempts(self, job_id: int | None = None) -> list[dict[str, Any]]:
        """Attempt rows (oldest first): job_id, attempt, prompt_id, backend, outcome, error, times."""
        where, args = ("WHERE job_id=?", (job_id,)) if job_id is not None else ("", ())
        cols = ("job_id", "attempt", "prompt_id", "backend", "outcome", "error", "submitted_at", "started_at",
                "ended_at")
        return [dict(zip(cols, r)) for r in self._read(f"SELECT {', '.join(cols)} FROM job_attempt {where} "
                                                       "ORDER BY id", args)]

    def sweep_progress(self, name: str) -> SweepProgress:
        sweep = self.find_sweep(name)
        rows = self._read("SELECT state, started_at, finished_at, step, total FROM job WHERE sweep_id=?", (sweep.id,))
        return self._progress(name, rows)

    def jobs_progress(self, ids: Sequence[int], name: str) -> SweepProgress:
        """Progress over some jobs only (a rerun, say), in the same shape as a sweep's."""
        ids = [int(i) for i in ids]
        rows = self._read(f"SELECT state, started_at, finished_at, step, total FROM job WHERE id IN ({_marks(ids)})", ids)
        return self._progress(name, rows)

    @staticmethod
    def _progress(name: str, rows: list[Any]) -> SweepProgress:
        counts: dict[str, int] = {}
        durations: list[float] = []
        for state, started, finished, _step, _total in rows:
            counts[state] = counts.get(state, 0) + 1
            if state == "done" and started and finished:
                durations.append((parse_time(finished) - parse_time(started)).total_seconds())  # type: ignore[operator]
        mean = statistics.fmean(durations) if durations else None
        eta = None
        if mean is not None:
            eta = (counts.get("queued", 0) + counts.get("submitted", 0)) * mean
            for state, _s, _f, step, total in rows:
                if state == "running":
                    eta += mean * (1 - (step / total if total else 0))
        return SweepProgress(name=name, total=len(rows), counts=counts, eta_s=eta, mean_s=mean)

    # -- control rows -----------------------------------------------------------------
    def paused(self, backend: str) -> bool:
        rows = self._read("SELECT paused FROM queue_control WHERE backend=?", (backend,))
        return bool(rows and rows[0][0])

    def paused_backends(self) -> list[str]:
        return sorted(r[0] for r in self._read("SELECT backend FROM queue_control WHERE paused"))

    def control_stamp(self, backend: str) -> str:
        """Changes whenever the user pauses or resumes the backend."""
        rows = self._read("SELECT updated_at FROM queue_control WHERE backend=?", (backend,))
        return str(rows[0][0]) if rows else ""

    def set_paused(self, backends: Iterable[str], paused: bool) -> None:
        with self._tx() as c:
            for b in backends:
                c.execute("INSERT INTO queue_control(backend, paused, updated_at) VALUES(?, ?, ?) "
                          "ON CONFLICT(backend) DO UPDATE SET paused=excluded.paused, updated_at=excluded.updated_at",
                          (b, int(paused), now_text()))

    # -- queueing -----------------------------------------------------------------------
    def enqueue(self, name: str, spec: dict[str, Any], axes: dict[str, Any], jobs: Sequence[Any],
                backend: str | None = None, workflow: str | None = None) -> QueueReport:
        """Insert a sweep's cells as queued jobs in one transaction.

        A cell whose key hash exists is left alone when done or unfinished, and
        re-armed when failed/cancelled/interrupted: re-queueing never duplicates.
        """
        now = now_text()
        with self._tx() as c:
            row = c.execute("SELECT id, axes FROM sweep WHERE name=?", (name,)).fetchone()
            if row is None:
                cur = c.execute("INSERT INTO sweep(name, spec, axes, backend, workflow, created_at) "
                                "VALUES(?, ?, ?, ?, ?, ?)", (name, json.dumps(spec), json.dumps(axes), backend,
                                                             workflow, now))
                sweep_id = int(cur.lastrowid)
            else:
                sweep_id = int(row[0])
                merged = {**json.loads(row[1] or "{}"), **axes}
                c.execute("UPDATE sweep SET spec=?, axes=? WHERE id=?", (json.dumps(spec), json.dumps(merged), sweep_id))
            report = QueueReport(sweep_id=sweep_id)
            position = float(c.execute("SELECT COALESCE(MAX(position), 0) FROM job").fetchone()[0])
            existing: dict[str, tuple[int, str]] = {}
            hashes = [j.key_hash for j in jobs]
            for i in range(0, len(hashes), 500):
                chunk = hashes[i:i + 500]
                for jid, h, st in c.execute(f"SELECT id, key_hash, state FROM job WHERE key_hash IN ({_marks(chunk)})",
                                            chunk):
                    existing[h] = (jid, st)
            for spec_job in jobs:
                position += 1
                old = existing.get(spec_job.key_hash)
                if old is None:
                    p: JobParams = spec_job.params
                    cur = c.execute(
                        "INSERT INTO job(sweep_id, key_hash, params, label, state, backend, position, moved, attempts, "
                        "step, total, result_ids, created_at, updated_at) VALUES(?, ?, ?, ?, 'queued', ?, ?, 0, 0, 0, 0, "
                        "'[]', ?, ?)", (sweep_id, spec_job.key_hash, json.dumps(p.to_json()), spec_job.label, p.backend,
                                        position, now, now))
                    report.added.append(int(cur.lastrowid))
                elif old[1] in RETRYABLE:
                    self._rearm(c, old[0], position, now)
                    report.rearmed.append(old[0])
                else:
                    report.kept[old[1]] = report.kept.get(old[1], 0) + 1
        return report

    @staticmethod
    def _rearm(c: sqlite3.Connection, job_id: int, position: float | None, now: str) -> None:
        c.execute(f"UPDATE job SET state='queued', error=NULL, step=0, total=0, backend_prompt_id=NULL, "
                  f"backend=json_extract(params, '$.backend'), submitted_at=NULL, started_at=NULL, finished_at=NULL, "
                  f"position=COALESCE(?, position), moved=CASE WHEN ? IS NULL THEN moved ELSE 0 END, updated_at=? "
                  f"WHERE id=? AND state IN ({_states(TRANSITIONS['retry'].sources)})",
                  (position, position, now, job_id))

    # -- the user's moves ------------------------------------------------------------------
    def cancel(self, ids: Iterable[int], interrupt: bool = False) -> list[JobRow]:
        """Cancel (or interrupt) the given unfinished jobs; returns them as they were before (prompt ids kept)."""
        t = TRANSITIONS["interrupt" if interrupt else "cancel"]
        ids = [int(i) for i in ids]
        why = "interrupted by the user" if interrupt else "cancelled by the user"
        now = now_text()
        with self._tx() as c:
            before = [_row(r) for r in c.execute(f"SELECT {_COLS} FROM job WHERE id IN ({_marks(ids)}) "
                                                 f"AND state IN ({_states(t.sources)})", ids)]
            for j in before:
                c.execute(f"UPDATE job SET state=?, error=?, finished_at=?, updated_at=? WHERE id=? "
                          f"AND state IN ({_states(t.sources)})", (t.target.value, why, now, now, j.id))
                self._end_attempt(c, j.id, j.prompt_id, t.target, why, now)
        return before

    def retry(self, ids: Iterable[int]) -> list[int]:
        """Queue failed, cancelled or interrupted jobs again, at the end of the queue, in the order given."""
        done: list[int] = []
        now = now_text()
        with self._tx() as c:
            position = float(c.execute("SELECT COALESCE(MAX(position), 0) FROM job").fetchone()[0])
            for i in dict.fromkeys(int(x) for x in ids):
                row = c.execute("SELECT state FROM job WHERE id=?", (i,)).fetchone()
                if row and row[0] in RETRYABLE:
                    position += 1
                    self._rearm(c, i, position, now)
                    done.append(i)
        return done

    def move(self, job_id: int, where: str) -> JobRow:
        """`front`, `up` or `down` among the queued jobs; the job is then in the user's order (`moved`)."""
        job = self.get(job_id)
        if job.state != S.QUEUED:
            raise JobError(f"job {job_id} is {job.state}; only queued jobs can be moved")
        now = now_text()
        with self._tx() as c:
            if where == "front":
                low = c.execute("SELECT COALESCE(MIN(position), 0) FROM job WHERE state='queued'").fetchone()[0]
                c.execute("UPDATE job SET position=?, moved=1, updated_at=? WHERE id=?", (float(low) - 1, now, job_id))
            elif where in ("up", "down"):
                op, order = ("<", "DESC") if where == "up" else (">", "ASC")
                other = c.execute(f"SELECT id, position FROM job WHERE state='queued' AND position {op} ? "
                                  f"ORDER BY position {order}, id {order} LIMIT 1", (job.position,)).fetchone()
                if other is not None:
                    c.execute("UPDATE job SET position=?, moved=1, updated_at=? WHERE id=?", (other[1], now, job_id))
                    c.execute("UPDATE job SET position=?, moved=1, updated_at=? WHERE id=?", (job.position, now, other[0]))
            else:
                raise JobError(f"unknown move {where!r}; front, up or down")
        return self.get(job_id)

    def sweep_job_ids(self, name: str, states: Iterable[JobState] | None = None) -> list[int]:
        sid = self.find_sweep(name).id
        extra = f" AND state IN ({_states(states)})" if states is not None else ""
        return [r[0] for r in self._read(f"SELECT id FROM job WHERE sweep_id=?{extra} ORDER BY position", (sid,))]

    def ids_in_state(self, state: JobState) -> list[int]:
        return [r[0] for r in self._read("SELECT id FROM job WHERE state=? ORDER BY position", (state.value,))]

    def existing(self, ids: Iterable[int]) -> list[int]:
        ids = [int(i) for i in ids]
        found = {r[0] for r in self._read(f"SELECT id FROM job WHERE id IN ({_marks(ids)})", ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise JobError(f"no job {', '.join(map(str, missing))}")
        return ids

    # -- a lane's moves (fenced) ----------------------------------------------------------------
    def claim(self, job_id: int, backend: str, prompt_id: str, fence: Fence | None) -> bool:
        """queued -> submitted under a new attempt (a fresh prompt id); False if the job moved meanwhile."""
        now = now_text()
        with self._tx() as c:
            n = c.execute(
                "UPDATE job SET state='submitted', backend=?, backend_prompt_id=?, attempts=attempts+1, submitted_at=?, "
                "started_at=NULL, finished_at=NULL, step=0, total=0, error=NULL, updated_at=? "
                f"WHERE id=? AND state='queued'{self._fenced(fence)}",
                (backend, prompt_id, now, now, job_id, *self._fence_args(fence))).rowcount
            if n == 1:
                attempt = c.execute("SELECT attempts FROM job WHERE id=?", (job_id,)).fetchone()[0]
                c.execute("INSERT INTO job_attempt(job_id, attempt, prompt_id, backend, submitted_at) "
                          "VALUES(?, ?, ?, ?, ?)", (job_id, attempt, prompt_id, backend, now))
        return n == 1

    def move_attempt(self, op: str, job_id: int, prompt_id: str, fence: Fence | None, *, error: str | None = None,
                     result_ids: Sequence[int] | None = None, note: str | None = None) -> bool:
        """An attempt's transition (start, finished, done, fail, interrupted, withdraw); False when not its turn."""
        t = TRANSITIONS[op]
        assert t.attempt, op
        now = now_text()
        sets = ["state=?", "updated_at=?"]
        args: list[Any] = [t.target.value, now]
        if op == "start":
            sets.append("started_at=?")
            args.append(now)
        elif op == "finished":
            sets += ["started_at=COALESCE(started_at, submitted_at)", "step=CASE WHEN total>0 THEN total ELSE step END"]
        elif op == "withdraw":
            sets += ["backend_prompt_id=NULL", "step=0", "total=0", "submitted_at=NULL", "started_at=NULL",
                     "backend=json_extract(params, '$.backend')", "error=?"]
            args.append(note)
        else:
            sets += ["error=?", "finished_at=?"]
            args += [None if op == "done" else (error or op)[:4000], now]
            if result_ids is not None:
                sets.append("result_ids=?")
                args.append(json.dumps(list(result_ids)))
        with self._tx() as c:
            n = c.execute(f"UPDATE job SET {', '.join(sets)} WHERE id=? AND backend_prompt_id=? "
                          f"AND state IN ({_states(t.sources)}){self._fenced(fence)}",
                          (*args, job_id, prompt_id, *self._fence_args(fence))).rowcount
            if n == 1:
                if op == "start":
                    c.execute("UPDATE job_attempt SET started_at=? WHERE job_id=? AND prompt_id=?", (now, job_id, prompt_id))
                elif op != "finished":
                    self._end_attempt(c, job_id, prompt_id, t.target, error or note, now)
        return n == 1

    def progress(self, job_id: int, prompt_id: str, step: int, total: int) -> None:
        with self._tx() as c:
            c.execute("UPDATE job SET step=?, total=? WHERE id=? AND backend_prompt_id=? AND state='running'",
                      (step, total, job_id, prompt_id))

    def store_params(self, job_id: int, prompt_id: str, params: JobParams) -> bool:
        """Keep what the attempt learned (the translated prompt) in the job row."""
        with self._tx() as c:
            return c.execute(f"UPDATE job SET params=? WHERE id=? AND backend_prompt_id=? AND state IN "
                             f"({_states(ON_BACKEND)})", (json.dumps(params.to_json()), job_id, prompt_id)).rowcount == 1

    def set_prompt_id(self, job_id: int, old: str, new: str) -> None:
        with self._tx() as c:
            if c.execute("UPDATE job SET backend_prompt_id=? WHERE id=? AND backend_prompt_id=?",
                         (new, job_id, old)).rowcount:
                c.execute("UPDATE job_attempt SET prompt_id=? WHERE job_id=? AND prompt_id=?", (new, job_id, old))

    def refuse(self, job_id: int, error: str) -> bool:
        """A queued job no backend can run: failed before any attempt."""
        now = now_text()
        with self._tx() as c:
            return c.execute("UPDATE job SET state='failed', error=?, finished_at=?, updated_at=? "
                             "WHERE id=? AND state='queued'", (error[:4000], now, now, job_id)).rowcount == 1

    def holds(self, job_id: int, prompt_id: str, states: Iterable[JobState] = ON_BACKEND) -> bool:
        """Is `prompt_id` still the job's open attempt (in one of `states`)?"""
        return bool(self._read(f"SELECT 1 FROM job WHERE id=? AND backend_prompt_id=? AND state IN ({_states(states)})",
                               (job_id, prompt_id)))

    def lost_attempts(self, job_id: int) -> int:
        """How many of the job's attempts the server lost while they ran (withdrawn after starting)."""
        return int(self._read("SELECT COUNT(*) FROM job_attempt WHERE job_id=? AND outcome='withdrawn' "
                              "AND started_at IS NOT NULL AND error LIKE 'lost%'", (job_id,))[0][0])

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _end_attempt(c: sqlite3.Connection, job_id: int, prompt_id: str | None, state: JobState,
                     error: str | None, now: str) -> None:
        if prompt_id is None:
            return
        c.execute("UPDATE job_attempt SET outcome=?, error=?, ended_at=? WHERE job_id=? AND prompt_id=? "
                  "AND outcome IS NULL", (ATTEMPT_OUTCOME[state], (error or "")[:4000] or None, now, job_id, prompt_id))

    @staticmethod
    def _fenced(fence: Fence | None) -> str:
        return "" if fence is None else " AND EXISTS (SELECT 1 FROM lease WHERE backend=? AND token=?)"

    @staticmethod
    def _fence_args(fence: Fence | None) -> tuple[Any, ...]:
        return () if fence is None else (fence.backend, fence.token)
