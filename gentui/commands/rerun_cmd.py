"""`gentui rerun RESULT`: queue a result's exact job again and say whether the new image matches.

    gentui rerun 42                     # same graph, seed and models; follow it; compare
    gentui rerun 42 --backend gpu-box   # on another machine (is it the GPU?)
    gentui rerun 42 --detach            # only queue it
"""

from __future__ import annotations

import argparse
import json
import sys

from gentui.config import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", help="a result id or an image path")
    p.add_argument("--backend", metavar="NAME", help="run it here (default: the backend that made it)")
    p.add_argument("--detach", action="store_true", help="only queue it; a worker runs it")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.catalog.annotations import AnnotationError, resolve_results
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.catalog.sidecar import read_sidecar, sidecar_path_for
    from gentui.commands.sweep_follow import follow_sweep
    from gentui.queue.rerun import RerunError, queue_rerun
    from gentui.queue.store import JobStore

    try:
        catalog = open_catalog(settings.catalog_path, create=False)
    except CatalogError as e:
        print(f"gentui rerun: {e}", file=sys.stderr)
        return 2
    try:
        (result,) = resolve_results(catalog, [args.result])
        job_id, sweep, label = queue_rerun(catalog, settings, result, args.backend)
    except (AnnotationError, RerunError) as e:
        print(f"gentui rerun: {e}", file=sys.stderr)
        catalog.close()
        return 2
    store = JobStore(catalog)
    backend = store.get(job_id).params.backend
    print(f"queued job {job_id} ({label}) on {backend}: a rerun of result {result.id}")
    if args.detach:
        store.close()
        catalog.close()
        return 0
    try:
        status = follow_sweep(settings, catalog, sweep, [backend], only=(job_id,))
        job = store.get(job_id)
        if job.state != "done" or not job.result_ids:
            return status or 1
        (new,) = resolve_results(catalog, job.result_ids[:1])
        found = read_sidecar(sidecar_path_for(new.path)).get("reproducibility") or {}
        from gentui.queue.rerun import Comparison

        comparison = Comparison(bool(found.get("identical")), int(found.get("hash_distance") or 0),
                                float(found.get("changed_share") or 0.0), bool(found.get("same_size", True)))
        print(f"result {new.id} ({new.path}) against result {result.id}: {comparison.describe()}")
        print(json.dumps({"original": result.id, "rerun": new.id, **comparison.to_dict()}))
        return 0
    finally:
        store.close()
        catalog.close()
