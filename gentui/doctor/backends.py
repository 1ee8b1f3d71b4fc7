"""Doctor checks for each configured backend: ComfyUI servers and the local mflux.

ComfyUI: reachable, credentials accepted (401/403 explained), server version,
simulator or real, Jobs API, round-trip time, and whether every model and LoRA
each workflow loads is on the server. mflux: whether it can run on this machine
(and why not), the command, the model and its cached weights, the LoRA folder.
Secrets never appear: messages go through the backend's redaction, and the
connection is shown through `Connection.describe()` (header values as `***`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from gentui.backends.base import BackendError
from gentui.config import Settings
from gentui.doctor.checks import ERROR, INFO, OK, WARN, Check

AUTH_MEANING = {
    "401": "401 means the server (or the proxy in front of it) wants credentials, or did not accept ours",
    "403": "403 means the proxy knew who we are but does not let us in (e.g. Cloudflare Access policy, "
    "wrong service token)",
}
HUB_REPOS = {"flux2-klein-4b": "black-forest-labs/FLUX.2-klein-4B", "flux2-klein-9b": "black-forest-labs/FLUX.2-klein-9B"}


async def check_backend(name: str, settings: Settings) -> list[Check]:
    b = settings.backends[name]
    if not b.enabled:
        return [Check("backend", name, INFO, f"{b.type}: disabled (enabled = false)")]
    needed = name == settings.defaults.backend
    if b.type == "mflux":
        return await check_mflux(name, settings, needed)
    return await check_comfyui(name, settings, needed)


# -- ComfyUI -------------------------------------------------------------------------
async def check_comfyui(name: str, settings: Settings, needed: bool) -> list[Check]:
    from gentui.backends.registry import make_backend

    bad = ERROR if needed else WARN
    role = " (the default backend)" if needed else ""
    try:
        backend = make_backend(name, settings)
    except BackendError as e:
        return [Check("backend", name, bad, f"cannot be set up{role}: {e}", f"fix [backends.{name}] in the config")]
    try:
        try:
            conn = backend.conn.describe()
        except BackendError as e:  # an unset password_env, an unreadable header file
            return [Check("backend", name, bad, str(e), _settings_fix(str(e), name))]
        h = await backend.health()
        f = h.features
        where = conn.get("url", "")
        if not h.ok:
            if f.get("auth") is False:
                status = re.search(r"HTTP (40[13])", h.detail)
                meaning = AUTH_MEANING.get(status.group(1), "") if status else ""
                what, _, fix = h.detail.partition("; ")
                summary = f"reachable, but auth refused: {what}" + (f". {meaning}" if meaning else "")
                return [Check("backend", name, bad, summary, fix or f"check backends.{name} credentials",
                              {"url": where, "connection": conn, "reachable": True, "auth": False})]  # fmt: skip
            if b_launch(settings, name):
                status, fix = WARN, f"gentui starts it when a job runs (launch is configured); check backends.{name}.url"
            else:
                status, fix = bad, (f"start ComfyUI at {where}, check backends.{name}.url, or set "
                                    f"[backends.{name}.launch] command so gentui starts it")
            return [Check("backend", name, status, f"not reachable{role}: {h.detail}", fix,
                          {"url": where, "connection": conn, "reachable": False})]
        kind = "simulator (a test double of ComfyUI)" if f.get("simulator") else "ComfyUI"
        jobs = "Jobs API present" if f.get("jobs_api") else "no Jobs API (older server: cancel via /queue)"
        summary = f"{kind} {h.version or '?'} at {where}, auth accepted, {jobs}, RTT {h.rtt_ms:.0f} ms"
        details = {"url": where, "connection": conn, "reachable": True, "auth": True, "version": h.version,
                   "simulator": bool(f.get("simulator")), "jobs_api": bool(f.get("jobs_api")),
                   "rtt_ms": h.rtt_ms, "devices": f.get("devices", [])}  # fmt: skip
        checks = [Check("backend", name, OK, summary, details=details)]
        checks += await _workflow_models(backend, name, settings, needed)
        return checks
    finally:
        await backend.close()


def b_launch(settings: Settings, name: str) -> bool:
    launch = settings.backends[name].launch
    return bool(launch and launch.command)


def _settings_fix(message: str, name: str) -> str:
    m = re.search(r"environment variable '?([A-Za-z_][A-Za-z0-9_]*)'?", message)
    if m:
        return f"export {m.group(1)}=... before starting gentui, or change backends.{name} in the config"
    return f"fix the setting named above in [backends.{name}]"


async def _workflow_models(backend: Any, name: str, settings: Settings, needed: bool) -> list[Check]:
    """For each workflow: are the model files it loads (with the default LoRA) on this server?"""
    from gentui.backends.base import ValidationFailed
    from gentui.backends.workflow import WorkflowError, list_workflows, load_workflow

    checks: list[Check] = []
    lora = settings.defaults.lora
    names = list_workflows(settings)
    if needed and settings.defaults.workflow not in names:
        checks.append(Check("backend", f"{name}: workflow {settings.defaults.workflow}", ERROR,
                            f"[defaults] workflow = {settings.defaults.workflow!r} is not in any workflows folder; "
                            f"available: {', '.join(names) or 'none'}",
                            f"set [defaults] workflow to one of those, or add the pair of files to "
                            f"{settings.user_workflows_dir}"))  # fmt: skip
    for wf_name in names:
        is_default = needed and wf_name == settings.defaults.workflow
        bad = ERROR if is_default else WARN
        item = f"{name}: workflow {wf_name}"
        params: dict[str, Any] = {"lora_name": lora} if lora else {"use_lora": False}
        try:
            wf = load_workflow(wf_name, settings)
            graph = wf.bind(params)
            required = wf.required_models(params)
        except WorkflowError as e:
            checks.append(Check("backend", item, bad, f"workflow cannot be used: {e}",
                                f"fix {wf_name}.toml / {wf_name}.json in the workflows folder"))  # fmt: skip
            continue
        files = [f"{folder}/{n}" for folder, names in required.items() for n in names]
        note = "" if lora else " (no [defaults] lora set, so no character LoRA was checked)"
        try:
            await backend.validate_graph(graph)
        except ValidationFailed as e:
            checks.append(Check("backend", item, bad, f"missing on the server: {backend.redact(e)}",
                                "copy the missing files into ComfyUI's models folders (or change the "
                                "workflow's defaults), then restart ComfyUI", {"required": required}))  # fmt: skip
            continue
        except BackendError as e:
            checks.append(Check("backend", item, WARN, f"could not check the models: {backend.redact(e)}",
                                "run gentui doctor again when the server answers"))  # fmt: skip
            continue
        checks.append(Check("backend", item, OK, f"all {len(files)} model file(s) present{note}",
                            details={"required": required}))  # fmt: skip
    return checks


# -- mflux ---------------------------------------------------------------------------
async def check_mflux(name: str, settings: Settings, needed: bool) -> list[Check]:
    from gentui.backends.mflux_command import available_loras
    from gentui.backends.registry import make_backend

    b = settings.backends[name]
    backend = make_backend(name, settings)
    bad = ERROR if needed else WARN
    try:
        h = await backend.health()
    finally:
        await backend.close()
    exe = h.features.get("command") or ""
    details = {"platform": h.features.get("platform"), "command": exe, "model": b.model,
               "quantize": b.quantize, "lora_dir": b.lora_dir}  # fmt: skip
    checks: list[Check] = []
    if h.ok:
        checks.append(Check("backend", name, OK, f"mflux runnable here: {exe}, model {b.model}", details=details))
    elif "Apple Silicon" in h.detail:
        checks.append(Check("backend", name, bad, f"{h.detail}; its jobs stay queued",
                            "run gentui (or `gentui worker`) on the Mac, or send these jobs to a ComfyUI backend",
                            details))  # fmt: skip
        return checks
    elif "not found on PATH" in h.detail:
        what, _, fix = h.detail.partition("; ")
        checks.append(Check("backend", name, bad, f"{what}; its jobs stay queued", fix, details))
    else:
        checks.append(Check("backend", name, bad, h.detail, f"fix [backends.{name}] in the config", details))
    if h.ok:
        checks.append(await asyncio.to_thread(check_mflux_flags, name, exe))
    repo = HUB_REPOS.get(b.model)
    if repo:
        cached = _hub_cached(repo)
        checks.append(Check("backend", f"{name}: model {b.model}", OK if cached else INFO,
                            f"weights {repo} " + ("cached" if cached else "not in the Hugging Face cache yet: "
                                                  "the first run downloads them (many GB)")))  # fmt: skip
    if b.lora_dir:
        loras = available_loras(b.lora_dir)
        if not Path(b.lora_dir).expanduser().is_dir():
            checks.append(Check("backend", f"{name}: lora_dir", WARN, f"{b.lora_dir} does not exist",
                                f"create it or fix backends.{name}.lora_dir"))  # fmt: skip
        else:
            checks.append(Check("backend", f"{name}: lora_dir", OK, f"{len(loras)} LoRA file(s) in {b.lora_dir}",
                                details={"loras": loras}))  # fmt: skip
        lora = settings.defaults.lora
        if lora:
            from gentui.backends.base import ValidationFailed
            from gentui.backends.mflux_command import resolve_lora

            try:
                resolve_lora(lora, b.lora_dir)
                checks.append(Check("backend", f"{name}: LoRA {lora}", OK, "present"))
            except ValidationFailed as e:
                checks.append(Check("backend", f"{name}: LoRA {lora}", bad if needed else WARN, str(e),
                                    f"copy {lora} into {b.lora_dir}"))  # fmt: skip
    return checks


def _hub_cached(repo: str) -> bool:
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub"
    )
    return (Path(hub) / ("models--" + repo.replace("/", "--"))).is_dir()


def check_mflux_flags(name: str, generate_exe: str, timeout_s: float = 90.0) -> Check:
    """Ask the installed mflux (`mflux-capabilities`) whether it still takes every option gentui sends."""
    from gentui.backends.mflux_command import USED_FLAGS

    item = f"{name}: mflux options"
    caps = shutil.which("mflux-capabilities", path=os.path.dirname(generate_exe) or None) or shutil.which(
        "mflux-capabilities"
    )
    if caps is None:
        return Check("backend", item, INFO, "mflux-capabilities not found (older mflux): options not checked",
                     "upgrade mflux (`uv tool upgrade mflux`) to let doctor check them")  # fmt: skip
    try:
        out = subprocess.run([caps, "--command", "mflux-generate-flux2"], capture_output=True, text=True,
                             timeout=timeout_s)  # fmt: skip
        data = json.loads(out.stdout)
        cmd = data["commands"][0]
        version = data.get("mflux_version", "?")
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError, TypeError) as e:
        return Check("backend", item, WARN, f"mflux-capabilities gave no usable answer ({type(e).__name__})",
                     "run `mflux-capabilities --command mflux-generate-flux2` by hand to see why")  # fmt: skip
    if cmd.get("coverage") != "full":
        return Check("backend", item, INFO, f"mflux {version} does not describe mflux-generate-flux2's options")
    flags: set[str] = set()
    for opt in cmd.get("options", []):
        flags.add(opt.get("flag", ""))
        flags.update(opt.get("aliases", []))
    missing = [f for f in USED_FLAGS if f not in flags]
    if missing:
        return Check("backend", item, ERROR, f"mflux {version} no longer accepts {', '.join(missing)}",
                     "install the mflux release gentui was checked against (0.24) or report it as a gentui bug",
                     {"mflux_version": version})  # fmt: skip
    return Check("backend", item, OK, f"mflux {version} accepts every option gentui sends",
                 details={"mflux_version": version})  # fmt: skip
