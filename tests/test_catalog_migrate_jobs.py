"""Schema 1 -> 2: job rows written by gentui 0.1 become typed parameters keyed by their new hash.

The fixture holds the sweep and job rows (and their tables' DDL) exactly as the
previous release wrote them for two sweeps: an anima weight sweep with a
no-LoRA cell, and an sdxl sweep whose rows said `use_speed_lora = true`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from gentui.catalog.db import SCHEMA_VERSION, open_catalog
from gentui.config import Settings
from gentui.params import JobParams
from gentui.queue.plan import plan_sweep, queue_plan
from gentui.queue.store import JobStore
from gentui.queue.sweep import sweep_from_dict

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "catalog_v1_jobs.json").read_text())


def v1_catalog(path: Path) -> Path:
    con = sqlite3.connect(path)
    for ddl in FIXTURE["schema"]:
        con.execute(ddl)
    con.executemany("INSERT INTO meta(key, value) VALUES(?, ?)", FIXTURE["meta"])
    con.executemany("INSERT INTO sweep VALUES(?, ?, ?, ?, ?, ?, ?)", FIXTURE["sweep"])
    con.executemany("INSERT INTO job(id, sweep_id, key_hash, params, label, state, backend, position, attempts, step, "
                    "total, backend_prompt_id, error, result_ids, created_at, submitted_at, started_at, finished_at, "
                    "updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", FIXTURE["job"])
    con.commit()
    con.close()
    return path


def test_v1_jobs_migrate_and_requeueing_adds_no_duplicate_cells(tmp_path):
    path = v1_catalog(tmp_path / "old.db")
    assert dict(FIXTURE["meta"])["schema_version"] == "1"
    catalog = open_catalog(path)
    assert catalog.schema_version() == SCHEMA_VERSION
    store = JobStore(catalog)
    jobs = store.list()
    assert len(jobs) == len(FIXTURE["job"]) and {j.state for j in jobs} == {"queued"}
    for j in jobs:
        raw = json.loads(j.params_json)
        assert raw["v"] == 2 and j.key_hash == j.params.key_hash() and not j.moved
    anima = {j.label.split()[0]: j.params for j in store.list(sweep="old-anima")}
    assert anima["wnone"].character_lora is None and anima["w0.6"].weight == 0.6
    assert anima["w0.8"].speed_lora.name == "anima-turbo-lora-v0.2.safetensors"
    assert all(p.speed_lora is None for p in (j.params for j in store.list(sweep="old-sdxl")))
    for raw in FIXTURE["sweeps"]:
        report = queue_plan(catalog, plan_sweep(sweep_from_dict(raw, "old.toml"), Settings(), catalog))
        assert report.added == [] and report.rearmed == []
        assert report.kept == {"queued": len(store.list(sweep=raw["name"]))}
    assert len(store.list()) == len(FIXTURE["job"])


def test_v1_params_read_as_typed_even_before_migration():
    for row in FIXTURE["job"]:
        p = JobParams.from_json(row[3])
        assert p.seed in (1293127692, 42) and p.sweep in ("old-anima", "old-sdxl")
