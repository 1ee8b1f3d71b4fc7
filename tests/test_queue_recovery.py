"""Reconciling after a worker died: finished on the server -> recorded; never sent -> queued again."""

from __future__ import annotations

import asyncio
import uuid

from queue_support import (
    job_states,
    make_worker,
    queued,
    run_worker,
    server_history,
    wait_for,
)
from sqlalchemy import text

from gentui.queue.store import JobStore


def test_jobs_finished_while_no_worker_ran_are_recorded_not_rerun(simulator):
    simulator.sim.engine.step_ms = 150  # slow enough that a loaded CI machine stops the worker mid-job
    settings, catalog, ids = queued(simulator, weights=(0.5, 0.6), steps=10)

    async def crash_mid_job():
        worker = make_worker(settings, catalog)
        task = asyncio.create_task(worker.run())
        await wait_for(lambda: JobStore(catalog).get(ids[0]).step >= 2)
        worker.stop(abandon=True)  # like a crash: in-flight jobs stay as they are in the catalog
        await task

    asyncio.run(crash_mid_job())
    states = job_states(catalog)
    assert states[ids[0]] == "running" and states[ids[1]] == "submitted", [(JobStore(catalog).get(i).state, JobStore(catalog).get(i).error) for i in ids]
    asyncio.run(wait_for(lambda: len(server_history(simulator.url)) == 2))  # the server finished both alone
    run_worker(settings, catalog)
    jobs = [JobStore(catalog).get(i) for i in ids]
    assert [j.state for j in jobs] == ["done", "done"]
    assert all(len(j.result_ids) == 1 and j.attempts == 1 for j in jobs)
    assert len(server_history(simulator.url)) == 2  # nothing ran twice
    assert len(list((settings.output_dir / "t").glob("*.png"))) == 2


def test_a_job_claimed_but_never_sent_is_queued_again(simulator):
    settings, catalog, ids = queued(simulator, weights=(0.5,))
    lost_id = str(uuid.uuid4())
    with catalog.engine.begin() as conn:  # what a crash between claim and submit leaves behind
        conn.execute(text("UPDATE job SET state='submitted', backend='comfyui', backend_prompt_id=:p, "
                          "attempts=1 WHERE id=:i"), {"p": lost_id, "i": ids[0]})
    run_worker(settings, catalog)
    job = JobStore(catalog).get(ids[0])
    assert job.state == "done" and job.backend_prompt_id != lost_id and len(job.result_ids) == 1
    assert list(server_history(simulator.url)) == [job.backend_prompt_id]


def test_results_already_written_are_not_duplicated(simulator):
    """A crash after the files were written but before the job was marked done."""
    settings, catalog, ids = queued(simulator, weights=(0.5,))
    run_worker(settings, catalog)
    job = JobStore(catalog).get(ids[0])
    with catalog.engine.begin() as conn:
        conn.execute(text("UPDATE job SET state='running', result_ids='[]' WHERE id=:i"), {"i": ids[0]})
    run_worker(settings, catalog)
    again = JobStore(catalog).get(ids[0])
    assert again.state == "done" and again.result_ids == job.result_ids
    assert sorted(p.name for p in (settings.output_dir / "t").iterdir()) == ["1293127692_w0.5.json",
                                                                          "1293127692_w0.5.png"]
