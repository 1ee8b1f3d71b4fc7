"""The catalog's tables, as sqlmodel classes.

Results, characters, annotations, tags and the key/value field index are an
index over the sidecars (rebuildable with `gentui import --rebuild`). Sweeps,
jobs, leases and the translation cache are the catalog's own state.

Every column a filter uses is indexed; the composite indexes match the query
compiler's shapes (see `catalog/query.py`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, UniqueConstraint, collate
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Result(SQLModel, table=True):
    """One generated image, mirrored from its sidecar."""

    __table_args__ = (
        Index("ix_result_filter", "n_characters", "layout", "lora_strength"),
        Index("ix_result_weight", "lora_strength", "seed"),
        Index("ix_result_sweep", "sweep_id", "seed", "lora_strength"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    path: str = Field(unique=True)
    """Absolute path of the image."""
    sidecar_path: Optional[str] = None
    """Absolute path of the JSON sidecar, if one exists."""
    sha256: Optional[str] = Field(default=None, index=True)
    file_size: Optional[int] = None
    file_mtime_ns: Optional[int] = None
    sidecar_size: Optional[int] = None
    sidecar_mtime_ns: Optional[int] = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    backend: Optional[str] = Field(default=None, index=True)
    workflow: Optional[str] = Field(default=None, index=True)
    model: Optional[str] = Field(default=None, index=True)
    seed: Optional[int] = Field(default=None, index=True)
    width: Optional[int] = None
    height: Optional[int] = None
    steps: Optional[int] = Field(default=None, index=True)
    cfg: Optional[float] = Field(default=None, index=True)
    sampler: Optional[str] = None
    scheduler: Optional[str] = None
    use_lora: Optional[bool] = None
    lora_name: Optional[str] = Field(default=None, index=True)
    lora_strength: Optional[float] = None
    """The weight as typed (rounded to 6 decimals); NULL when use_lora is false."""
    use_speed_lora: Optional[bool] = None
    speed_lora_name: Optional[str] = None
    speed_lora_strength: Optional[float] = None
    skip_translate: Optional[bool] = None
    prompt_src: Optional[str] = None
    prompt_en: Optional[str] = None
    negative: Optional[str] = None
    translator_model: Optional[str] = None
    layout: Optional[str] = Field(default=None, index=True)
    n_characters: Optional[int] = None
    named: Optional[bool] = Field(default=None, index=True)
    elapsed_s: Optional[float] = None
    sweep_id: Optional[int] = None
    sweep_name: Optional[str] = Field(default=None, index=True)
    job_id: Optional[int] = Field(default=None, index=True)
    backend_prompt_id: Optional[str] = None
    variant: Optional[str] = None
    status: str = Field(default="done", index=True)
    rating: Optional[int] = Field(default=None, index=True)
    thumb: Optional[str] = None
    """Content hash naming the cached thumbnail file."""
    source_format: Optional[str] = None
    """How it was read: `sidecar`, `comfyui_png`, `mflux`."""


class Character(SQLModel, table=True):
    """One character of a result's prompt."""

    __table_args__ = (Index("ix_character_name", "name", "result_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="result.id", index=True, ondelete="CASCADE")
    idx: int = 0
    slot: str = ""
    name: Optional[str] = None
    identity: Optional[str] = None
    lora_trigger: Optional[str] = None
    position: Optional[str] = None
    appearance: Optional[str] = None
    has_trigger: bool = False


class Annotation(SQLModel, table=True):
    """A judgement about one character of a result (what bled where)."""

    __table_args__ = (Index("ix_annotation_feature", "feature", "outcome", "result_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="result.id", index=True, ondelete="CASCADE")
    slot: str = ""
    feature: str = ""
    outcome: str = ""
    """present, missing, migrated, duplicated, color_drift, collapse, artifact."""
    target: Optional[str] = None
    """Slot(s) the feature migrated or was duplicated to, comma-separated."""
    color: Optional[str] = None
    note: Optional[str] = None
    author: str = "user"
    created_at: datetime = Field(default_factory=utcnow)


class Tag(SQLModel, table=True):
    """A free tag on a result (keeper, bleed, collapse, ...)."""

    __table_args__ = (Index("ix_tag_result", "result_id"),)

    tag: str = Field(primary_key=True)
    result_id: int = Field(foreign_key="result.id", primary_key=True, ondelete="CASCADE")


class FieldValue(SQLModel, table=True):
    """One scalar leaf of a sidecar, flattened (`characters.1.name`), for `field:` queries."""

    __tablename__ = "field_value"
    __table_args__ = (
        Index("ix_field_num", "key", "num", "result_id"),
        Index("ix_field_text", "key", "text", "result_id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="result.id", index=True, ondelete="CASCADE")
    key: str
    num: Optional[float] = None
    text: Optional[str] = None


class Sweep(SQLModel, table=True):
    """A named grid of jobs: one prompt spec and its axes."""

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    """The base prompt spec and parameters, as queued."""
    axes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    backend: Optional[str] = None
    workflow: Optional[str] = None
    created_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    """One cell of a sweep: resolved parameters and where it is in its life."""

    __table_args__ = (
        UniqueConstraint("key_hash", name="uq_job_key"),
        Index("ix_job_state", "state", "backend", "position"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    sweep_id: Optional[int] = Field(default=None, foreign_key="sweep.id", index=True)
    key_hash: str
    """Hash of the resolved parameters: re-queueing a sweep only adds missing cells."""
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    label: str = ""
    state: str = "queued"
    """queued, submitted, running, recording, done, failed, cancelled, interrupted (`queue.store.JobState`)."""
    backend: Optional[str] = None
    position: float = 0.0
    """Queue order; smaller runs first (move-to-front gives it the smallest)."""
    moved: bool = False
    """The user placed it (front / up / down): a lane takes it exactly in that order."""
    attempts: int = 0
    step: int = 0
    total: int = 0
    backend_prompt_id: Optional[str] = Field(default=None, index=True)
    error: Optional[str] = None
    result_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    submitted_at: Optional[datetime] = None
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None
    updated_at: datetime = Field(default_factory=utcnow)


class JobAttempt(SQLModel, table=True):
    """One attempt at a job: claimed under a fresh prompt id, ended with exactly one outcome."""

    __tablename__ = "job_attempt"
    __table_args__ = (Index("ix_job_attempt_job", "job_id", "prompt_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", ondelete="CASCADE")
    attempt: int
    prompt_id: str
    backend: str
    outcome: Optional[str] = None
    """done, failed, interrupted, cancelled or withdrawn (back in the queue); None while it is open."""
    error: Optional[str] = None
    submitted_at: Optional[datetime] = None
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None


class Lease(SQLModel, table=True):
    """Who runs a backend's lane: one worker per backend across processes."""

    backend: str = Field(primary_key=True)
    holder: str
    """`pid@host` of the holding worker."""
    token: str
    acquired_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)


class QueueControl(SQLModel, table=True):
    """Requests to a worker from other processes (pause, interrupt)."""

    __tablename__ = "queue_control"

    backend: str = Field(primary_key=True)
    paused: bool = False
    interrupt_job_id: Optional[int] = None
    updated_at: datetime = Field(default_factory=utcnow)


class TranslationCache(SQLModel, table=True):
    """Accepted translations, so a sweep never re-rolls its prompt."""

    __tablename__ = "translation_cache"

    source_hash: str = Field(primary_key=True)
    model: str = Field(primary_key=True)
    instruction_version: str = Field(primary_key=True)
    source: str
    text: str
    created_at: datetime = Field(default_factory=utcnow)


class Meta(SQLModel, table=True):
    """Catalog-wide facts: the schema version."""

    key: str = Field(primary_key=True)
    value: str


# `char:lily` matches names case-insensitively; this index lets SQLite find them by name.
Index("ix_character_name_nocase", collate(Character.__table__.c.name, "NOCASE"), Character.__table__.c.result_id)
