"""`gentui sweep`, `gentui jobs`, `gentui worker` as a user runs them (simulator, real catalog)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from queue_support import catalog_for, job_states, sim_settings, write_config

from gentui.cli import main
from gentui.queue.store import JobStore

FLAGS = ["--prompt", "2girls, side by side", "--lora", "kanachan-v4.safetensors", "--skip-translate",
         "--width", "64", "--height", "64", "--steps", "3", "--seeds", "1293127692"]


def test_sweep_runs_itself_when_no_worker_holds_the_backend(simulator, capsys):
    write_config(simulator.url)
    code = main(["sweep", *FLAGS, "--weights", "0.4:1.2:0.2", "--name", "cli"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "queued 5 job(s)" in out and "5 done" in out
    settings = sim_settings(simulator.url)
    folder = settings.output_dir / "cli"
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(
        f"1293127692_w{w}.png" for w in ("0.4", "0.6", "0.8", "1.0", "1.2"))
    side = json.loads((folder / "1293127692_w0.6.json").read_text())
    assert side["lora_strength"] == 0.6 and side["steps"] == 3 and side["width"] == 64
    # the same command again queues nothing and returns at once
    assert main(["sweep", *FLAGS, "--weights", "0.4:1.2:0.2", "--name", "cli"]) == 0
    assert "queued 0 job(s); already there: 5 done" in capsys.readouterr().out


def test_sweep_follows_the_worker_that_holds_the_backend(simulator, capsys):
    write_config(simulator.url)
    worker = subprocess.Popen([sys.executable, "-m", "gentui.cli", "worker"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    try:
        line = worker.stdout.readline()
        assert "running backend(s) comfyui" in line, line
        code = main(["sweep", *FLAGS, "--weights", "0.5,0.7", "--name", "followed"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "following: backend comfyui is held by worker" in out and "2 done" in out
    finally:
        worker.send_signal(signal.SIGTERM)
        rest = worker.communicate(timeout=15)[0]
    assert worker.returncode == 0 and "worker stopped" in rest


def test_dry_run_lists_jobs_and_queues_nothing(simulator, capsys):
    write_config(simulator.url)
    assert main(["sweep", *FLAGS, "--weights", "0.6,0.8", "--set", "denoise=0.9", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 job(s)" in out and "w0.6" in out and "w0.8" in out
    assert job_states(catalog_for(sim_settings(simulator.url))) == {}


def test_user_mistakes_exit_2_with_a_clear_message(simulator, tmp_path, capsys):
    write_config(simulator.url)
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[prompt]\ntext = "a"\n[params]\nsteps = "eight"\n')
    assert main(["sweep", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "params.steps" in err and "integer" in err
    assert main(["sweep", *FLAGS, "--set", "no_such=1", "--detach"]) == 2
    err = capsys.readouterr().err
    assert "no_such" in err and "lora_strength" in err  # lists the workflow's parameters
    assert main(["sweep", "--weights", "0.5"]) == 2
    assert "--prompt" in capsys.readouterr().err
    assert main(["worker", "--backend", "nope"]) == 2
    assert "no backend named nope" in capsys.readouterr().err
    assert main(["jobs", "cancel", "999"]) == 2
    assert "no job 999" in capsys.readouterr().err


def test_jobs_commands(simulator, capsys):
    write_config(simulator.url)
    assert main(["sweep", *FLAGS, "--weights", "0.5,0.6,0.7", "--name", "ctl", "--detach"]) == 0
    catalog = catalog_for(sim_settings(simulator.url))
    ids = sorted(job_states(catalog))
    capsys.readouterr()
    assert main(["jobs", "list", "--sweep", "ctl"]) == 0
    out = capsys.readouterr().out
    assert "3 job(s)" in out and "queued" in out
    assert main(["jobs", "front", str(ids[2])]) == 0
    assert JobStore(catalog).list(states="queued")[0].id == ids[2]
    assert main(["jobs", "cancel", str(ids[0])]) == 0
    assert main(["jobs", "pause"]) == 0 and JobStore(catalog).paused("comfyui") is True
    assert main(["jobs", "resume"]) == 0 and JobStore(catalog).paused("comfyui") is False
    assert main(["worker", "--until-idle"]) == 0
    assert job_states(catalog) == {ids[0]: "cancelled", ids[1]: "done", ids[2]: "done"}
    assert main(["jobs", "retry", "--sweep", "ctl"]) == 0
    assert f"queued again job {ids[0]} " in capsys.readouterr().out
    assert main(["worker", "--until-idle"]) == 0
    assert set(job_states(catalog).values()) == {"done"}
    assert main(["jobs", "progress", "--sweep", "ctl"]) == 0
    assert "3/3 finished" in capsys.readouterr().out
    assert main(["jobs", "show", str(ids[0])]) == 0
    shown = capsys.readouterr().out
    # cancelled while queued (never sent: no attempt), then retried: one attempt, done
    assert "attempt 1 on comfyui" in shown and "): done" in shown and "attempt 2" not in shown
    assert "LoRA kanachan-v4.safetensors @ 0.5 (character)" in shown and "(speed)" in shown


def test_sweep_queues_with_a_warning_when_the_backend_is_down(simulator, capsys):
    write_config(simulator.url)
    simulator.kill()
    assert main(["sweep", *FLAGS, "--weights", "0.5", "--detach"]) == 0
    captured = capsys.readouterr()
    assert "queued 1 job(s)" in captured.out
    assert "cannot be reached to check models" in captured.err and "checked again before they run" in captured.err
    assert list(job_states(catalog_for(sim_settings(simulator.url))).values()) == ["queued"]
