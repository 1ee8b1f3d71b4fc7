"""`gentui rerun`: the exact job again, linked to the original, and a verdict on whether the image matches."""

from __future__ import annotations

import json

from queue_support import catalog_for, sim_settings, write_config

from gentui.catalog.sidecar import read_sidecar
from gentui.cli import main
from gentui.queue.rerun import compare_images
from gentui.queue.store import JobStore

FLAGS = ["--prompt", "2girls, side by side", "--lora", "kanachan-v4.safetensors", "--skip-translate",
         "--width", "64", "--height", "64", "--steps", "3", "--seeds", "7", "--weights", "0.8", "--name", "r"]


def _one_result(simulator, capsys):
    write_config(simulator.url)
    assert main(["sweep", *FLAGS]) == 0
    capsys.readouterr()
    catalog = catalog_for(sim_settings(simulator.url))
    (job,) = JobStore(catalog).list(sweep="r")
    return catalog, job


def test_a_rerun_on_a_deterministic_server_is_identical(simulator, capsys):
    catalog, job = _one_result(simulator, capsys)
    original = job.result_ids[0]
    assert main(["rerun", str(original)]) == 0
    out = capsys.readouterr().out
    verdict = json.loads(out.strip().splitlines()[-1])
    assert verdict["identical"] is True and verdict["original"] == original
    jobs = JobStore(catalog).list(sweep="r")
    assert len(jobs) == 2 and {j.state for j in jobs} == {"done"}  # a new job, not the old one's cell
    rerun = next(j for j in jobs if j.id != job.id)
    assert rerun.params.rerun_of["result_id"] == original and rerun.params.seed == 7
    assert rerun.params.key_hash() != job.params.key_hash()
    new_side = read_sidecar(next((sim_settings(simulator.url).output_dir / "r").glob("*rerun-*.json")))
    assert new_side["reproducibility"]["identical"] is True and new_side["rerun_of"]["result_id"] == original
    old_side = read_sidecar(next(p for p in (sim_settings(simulator.url).output_dir / "r").glob("*.json")
                                 if "rerun" not in p.name))
    assert [r["identical"] for r in old_side["reruns"]] == [True]
    # the sweep's own cell is still there, once: re-queueing the sweep adds nothing
    assert main(["sweep", *FLAGS, "--detach"]) == 0
    assert "queued 0 job(s)" in capsys.readouterr().out


def test_a_rerun_on_a_nondeterministic_server_is_caught_and_recorded_on_both(simulator, capsys):
    catalog, job = _one_result(simulator, capsys)
    simulator.sim.faults.nondeterministic = True
    simulator.sim.engine.outputs_cache.clear()  # a new run of the sampler, as on another day
    assert main(["rerun", str(job.result_ids[0])]) == 0
    out = capsys.readouterr().out
    verdict = json.loads(out.strip().splitlines()[-1])
    assert verdict["identical"] is False and 0 < verdict["changed_share"] < 0.2 and verdict["hash_distance"] <= 16
    assert "not identical" in out and "non-deterministic" in out
    folder = sim_settings(simulator.url).output_dir / "r"
    old_side = read_sidecar(next(p for p in folder.glob("*.json") if "rerun" not in p.name))
    assert old_side["reruns"][0]["identical"] is False


def test_compare_images_reads_pixels(tmp_path):
    from PIL import Image

    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(a)
    img = Image.new("RGB", (32, 32), (200, 10, 10))
    img.putpixel((3, 3), (201, 10, 10))
    img.save(b)
    Image.new("RGB", (16, 16)).save(c)
    assert compare_images(a, a).identical
    near = compare_images(a, b)
    assert not near.identical and near.changed_share == 1 / 1024 and near.same_size
    assert not compare_images(a, c).same_size


def test_a_result_without_a_graph_is_refused_with_the_reason(simulator, capsys, tmp_path):
    catalog, job = _one_result(simulator, capsys)
    side_path = next((sim_settings(simulator.url).output_dir / "r").glob("*.json"))
    data = json.loads(side_path.read_text())
    del data["workflow_api"]
    side_path.write_text(json.dumps(data))
    from gentui.catalog.importer import index_image

    index_image(catalog, side_path.with_suffix(".png"), sim_settings(simulator.url).thumbnail_dir)
    JobStore(catalog)  # the job row stays; the graph is what is missing
    import sqlite3

    con = sqlite3.connect(sim_settings(simulator.url).catalog_path)
    con.execute("UPDATE result SET job_id=NULL")
    con.commit()
    con.close()
    assert main(["rerun", str(job.result_ids[0])]) == 2
    assert "records no ComfyUI graph" in capsys.readouterr().err
