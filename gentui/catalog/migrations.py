"""The catalog's schema migrations, one function per version step (registered in `db.MIGRATIONS`).

Each takes the open connection of a catalog at version n and leaves it at n + 1;
tables that are new in a version are created afterwards by `create_all`, so a
migration only changes what already exists.
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.engine import Connection


def typed_job_params(conn: Connection) -> None:
    """1 -> 2: job rows hold `JobParams` (a LoRA list with roles) and are keyed by its hash; jobs may be `moved`.

    Re-queueing a sweep made before this step then finds its cells instead of
    adding them again. Two old rows that now mean the same job (an sdxl job said
    `use_speed_lora = true` though its workflow has no speed LoRA) keep one key:
    the oldest row keeps it, the others get a suffixed one.
    """
    from gentui.params import JobParams

    cols = {r[1] for r in conn.execute(text("PRAGMA table_info(job)"))}
    if "moved" not in cols:
        conn.execute(text("ALTER TABLE job ADD COLUMN moved BOOLEAN NOT NULL DEFAULT 0"))
    rows = conn.execute(text("SELECT id, params FROM job ORDER BY id")).all()
    taken: set[str] = set()
    updates = []
    for job_id, raw in rows:
        data = json.loads(raw) if isinstance(raw, str) else (raw or {})
        params = JobParams.from_json(data)
        key = params.key_hash()
        if key in taken:
            key = f"{key}~{job_id}"
        taken.add(key)
        updates.append({"i": job_id, "p": json.dumps(params.to_json()), "k": f"migrating-{job_id}", "final": key})
    # Two passes: a new key may equal another row's old one until every row has moved on.
    for u in updates:
        conn.execute(text("UPDATE job SET params=:p, key_hash=:k WHERE id=:i"), u)
    for u in updates:
        conn.execute(text("UPDATE job SET key_hash=:final WHERE id=:i"), u)
