"""Keeping the servers' caches warm: each lane takes the job that shares most with the one it just ran."""

from __future__ import annotations

import asyncio

from queue_support import catalog_for, fast_backend, server_history

from gentui.config import settings_from_dict
from gentui.queue.control import Action, QueueService
from gentui.queue.plan import plan_sweep, queue_plan
from gentui.queue.store import JobStore
from gentui.queue.sweep import sweep_from_dict
from gentui.queue.worker import Worker
from gentui.simulator import start_simulator


def _sweep(settings, catalog, name, weights, seeds, backend):
    raw = {"name": name, "prompt": {"text": "2girls, side by side"},
           "params": {"backend": backend, "lora_name": "kanachan-v4.safetensors", "skip_translate": True,
                      "width": 64, "height": 64, "steps": 2},
           "axes": {"seeds": seeds, "weights": weights}}  # seed-major: the worst order for the caches
    return queue_plan(catalog, plan_sweep(sweep_from_dict(raw, name), settings, catalog)).added


def _run(settings, catalog, names):
    worker = Worker(settings, catalog, names, exit_when_idle=True, log=lambda m: None, make_backend=fast_backend)
    asyncio.run(asyncio.wait_for(worker.run(), 60))


def _weights_in_run_order(store, url, backend):
    history = server_history(url)
    jobs = [j for j in store.list() if j.backend == backend]
    start = {j.id: history[j.prompt_id]["status"]["messages"][0][1]["timestamp"] for j in jobs}
    return [j.params.weight for j in sorted(jobs, key=lambda j: start[j.id])]


def test_two_servers_each_keep_to_their_own_weights():
    sims = [start_simulator(port=0, step_ms=2) for _ in range(2)]
    try:
        settings = settings_from_dict({"backends": {"a": {"url": sims[0].url}, "b": {"url": sims[1].url}},
                                       "defaults": {"backend": "a"}})
        catalog = catalog_for(settings)
        _sweep(settings, catalog, "grid", [0.4, 0.6, 0.8, 1.0], [1, 2, 3], "any")
        _run(settings, catalog, ["a", "b"])
        store = JobStore(catalog)
        assert {j.state for j in store.list()} == {"done"}, [(j.id, j.state, j.error, store.attempts(j.id))
                                                             for j in store.list() if j.state != "done"]
        for name, sim in zip("ab", sims):
            order = _weights_in_run_order(store, sim.url, name)
            changes = 1 + sum(1 for x, y in zip(order, order[1:]) if x != y)
            assert changes == len(set(order)), f"{name} re-patched its model {changes} times for {order}"
            # what the server re-did: one character-LoRA patch per weight (and one for the speed LoRA)
            assert sim.ledger.work["lora_patches"] == len(set(order)) + 1
        # the weights were shared out (at most one split, when an idle server helps with the last of one)
        assert sum(len(set(_weights_in_run_order(store, s.url, n))) for n, s in zip("ab", sims)) <= 5
    finally:
        for sim in sims:
            sim.stop()


def test_jobs_the_user_moved_keep_their_order(simulator):
    settings = settings_from_dict({"backends": {"comfyui": {"url": simulator.url}}})
    catalog = catalog_for(settings)
    ids = _sweep(settings, catalog, "grid", [0.4, 0.6], [1, 2, 3], "comfyui")  # s1 w.4, s1 w.6, s2 w.4, ...
    service = QueueService(settings, catalog)
    service.move(ids[5], Action.FRONT)
    service.move(ids[3], Action.FRONT)
    _run(settings, catalog, ["comfyui"])
    store = JobStore(catalog)
    started = sorted(store.list(), key=lambda j: j.started_at)
    assert [j.id for j in started[:2]] == [ids[3], ids[5]]  # exactly as placed
    # the rest: one sweep's unmoved jobs, taken weight by weight (s1 w.4 first, then the other w.4 ...)
    rest = [j.params.weight for j in started[2:]]
    assert rest == sorted(rest, key=lambda w: rest.index(w)) and len(set(rest)) == 2
    assert 1 + sum(1 for x, y in zip(rest, rest[1:]) if x != y) == 2
