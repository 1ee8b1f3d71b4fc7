"""Queue control through the one service the TUI and `gentui jobs` share: the sequences that lost work."""

from __future__ import annotations

import asyncio

from queue_support import (
    control,
    job_states,
    make_worker,
    queued,
    server_history,
    server_queue,
    wait_for,
)

from gentui.queue.control import Action
from gentui.queue.store import JobState, JobStore


def _outcome_on_server(url: str, prompt_id: str) -> str | None:
    entry = server_history(url).get(prompt_id)
    if entry is None:
        return None
    return entry["status"]["messages"][-1][0]


def test_pause_takes_the_prequeued_job_back_and_resume_records_it(simulator):
    """Issue 9, defect 1: pausing while job 2 waits on the server used to leave it `running 30/30` forever."""
    simulator.sim.engine.step_ms = 20
    settings, catalog, ids = queued(simulator, weights=(0.4, 0.6, 0.8, 1.0), steps=30)
    store = JobStore(catalog)

    async def go():
        worker = make_worker(settings, catalog, prequeue=1)
        task = asyncio.create_task(worker.run())
        await wait_for(lambda: store.get(ids[1]).state == JobState.SUBMITTED and server_queue(simulator.url)[1])
        pending = store.get(ids[1]).prompt_id
        res = await asyncio.to_thread(control(catalog, settings).pause)
        assert res.backends == ["comfyui"]
        await wait_for(lambda: store.get(ids[1]).state == JobState.QUEUED, what="job 2 back in the queue")
        assert pending not in server_queue(simulator.url)[1] and pending not in server_history(simulator.url)
        await wait_for(lambda: store.get(ids[0]).state == JobState.DONE)
        assert [store.get(i).state for i in ids[1:]] == [JobState.QUEUED] * 3  # nothing new starts
        await asyncio.to_thread(control(catalog, settings).resume)
        await asyncio.wait_for(task, 30)

    asyncio.run(go())
    jobs = [store.get(i) for i in ids]
    assert [j.state for j in jobs] == [JobState.DONE] * 4
    assert all(len(j.result_ids) == 1 for j in jobs)
    assert [a["outcome"] for a in store.attempts(ids[1])] == ["withdrawn", "done"]
    files = sorted(p.name for p in (settings.output_dir / "t").iterdir())
    assert len(files) == 8  # one image and one sidecar per job
    history = server_history(simulator.url)
    assert sorted(history) == sorted(j.prompt_id for j in jobs)  # every job ran once on the server


def test_a_cancel_after_a_retry_reaches_the_server_and_wins(simulator):
    """Issue 9, defect 2: the second cancel of a retried job was lost and the job ended `done`."""
    simulator.sim.engine.step_ms = 30
    settings, catalog, ids = queued(simulator, weights=(0.5,), steps=40)
    store = JobStore(catalog)
    ctl = control(catalog, settings)

    async def cancel_while_running() -> str:
        await wait_for(lambda: store.get(ids[0]).state == JobState.RUNNING and store.get(ids[0]).step >= 2)
        pid = store.get(ids[0]).prompt_id
        res = await asyncio.to_thread(ctl.cancel, [ids[0]])
        assert res.ids == [ids[0]]
        await wait_for(lambda: _outcome_on_server(simulator.url, pid) is not None, what="the server stopped it")
        assert _outcome_on_server(simulator.url, pid) == "execution_interrupted"
        return pid

    async def go():
        worker = make_worker(settings, catalog, exit_when_idle=False)
        task = asyncio.create_task(worker.run())
        first = await cancel_while_running()
        assert ctl.retry([ids[0]]).ids == [ids[0]]
        second = await cancel_while_running()
        assert first != second
        worker.stop()
        await asyncio.wait_for(task, 20)

    asyncio.run(go())
    job = store.get(ids[0])
    assert job.state == JobState.CANCELLED and job.result_ids == [] and job.attempts == 2
    assert [a["outcome"] for a in store.attempts(ids[0])] == ["cancelled", "cancelled"]
    assert not (settings.output_dir / "t").exists() or not list((settings.output_dir / "t").iterdir())


def test_without_a_worker_a_cancel_is_taken_to_the_server_by_the_service(simulator):
    """Issue 9, defect 4: the TUI did not cancel on the server when no worker ran; now both use the service."""
    simulator.sim.engine.step_ms = 40
    settings, catalog, ids = queued(simulator, weights=(0.5, 0.6), steps=150)  # 6 s: still running when we look
    store = JobStore(catalog)

    async def leave_two_on_the_server():
        worker = make_worker(settings, catalog, exit_when_idle=False)
        task = asyncio.create_task(worker.run())
        await wait_for(lambda: len(server_queue(simulator.url)[1]) == 1 and store.get(ids[0]).state == JobState.RUNNING)
        worker.stop(abandon=True)  # like a worker that died: its jobs stay on the server
        await asyncio.wait_for(task, 20)

    asyncio.run(leave_two_on_the_server())
    running, pending = server_queue(simulator.url)
    assert running == [store.get(ids[0]).prompt_id] and pending == [store.get(ids[1]).prompt_id]
    res = control(catalog, settings).do(Action.CANCEL, ids[1])
    assert res.ids == [ids[1]] and "removed from backend comfyui" in res.message()
    assert server_queue(simulator.url)[1] == []
    res = control(catalog, settings).do(Action.INTERRUPT, ids[0])
    assert res.ids == [ids[0]]
    assert job_states(catalog) == {ids[0]: "interrupted", ids[1]: "cancelled"}


def test_retrying_a_done_job_says_why_nothing_happened(simulator):
    settings, catalog, ids = queued(simulator, weights=(0.5,), steps=2)
    store = JobStore(catalog)
    store.cancel([ids[0]])
    res = control(catalog, settings).retry([ids[0], ids[0]])
    assert res.ids == [ids[0]]
    res = control(catalog, settings).retry([ids[0]])
    assert res.ids == [] and "already queued" in res.message()


def test_user_order_is_kept_and_moves_are_marked(simulator):
    settings, catalog, ids = queued(simulator, weights=(0.4, 0.5, 0.6, 0.7), steps=2)
    ctl = control(catalog, settings)
    ctl.move(ids[3], Action.FRONT)
    ctl.move(ids[0], Action.DOWN)
    order = [j.id for j in JobStore(catalog).list(states="queued")]
    assert order == [ids[3], ids[1], ids[0], ids[2]]
    assert {j.id for j in JobStore(catalog).list() if j.moved} == {ids[3], ids[0], ids[1]}
