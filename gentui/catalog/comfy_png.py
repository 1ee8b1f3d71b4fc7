"""ComfyUI PNGs -> a sidecar-shaped dict, by following the graph from the sampler.

ComfyUI's SaveImage writes tEXt chunks `prompt` (the API graph that ran) and
`workflow` (the editor's UI graph). The parameters are read by walking links
from the sampler node (KSampler, KSamplerAdvanced, SamplerCustom,
SamplerCustomAdvanced, found by class_type): its model input back through every
LoRA loader to the checkpoint or UNet loader, its positive/negative inputs back
through conditioning nodes to the text encoders (and string primitives), its
latent input back to the empty-latent node for the size. Node ids are never
guessed. When only the UI graph exists, it is first turned into an API-shaped
graph from `widgets_values` (best effort, reported as a problem).
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from gentui.catalog.ui_workflow import ui_to_api

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAMPLER_TYPES = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced")
SPEED_LORA = re.compile(r"(?<![a-z])(turbo|lightning|hyper|lcm|speed|tcd|dmd2?|causvid|flash)", re.IGNORECASE)
TEXT_INPUTS = ("text", "text_g", "text_l", "t5xxl", "clip_l", "prompt", "positive_prompt")
VALUE_INPUTS = ("value", "seed", "noise_seed", "int", "float", "number", "string", "text", "Text",
                "boolean", "INT", "FLOAT", "STRING")
MAX_HOPS = 64


class PngTextError(Exception):
    """The file is not a readable PNG (bad signature or a truncated chunk)."""


def png_text_chunks(data: bytes) -> tuple[dict[str, str], tuple[int, int] | None]:
    """Text chunks (tEXt, zTXt, iTXt) and the IHDR size of PNG bytes, without decoding pixels."""
    if not data.startswith(PNG_SIGNATURE):
        raise PngTextError("not a PNG file (bad signature)")
    texts: dict[str, str] = {}
    size = None
    pos, end = 8, len(data)
    while pos + 8 <= end:
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body_start = pos + 8
        if body_start + length + 4 > end:
            if ctype == b"IHDR" or size is None:
                raise PngTextError(f"truncated {ctype.decode('latin-1')} chunk at byte {pos}")
            break  # pixel data cut short: the decoder reports it
        body = data[body_start : body_start + length]
        if ctype == b"IHDR" and length >= 8:
            size = struct.unpack(">II", body[:8])
        elif ctype in (b"tEXt", b"zTXt", b"iTXt"):
            kv = _text_chunk(ctype, body)
            if kv is not None:
                texts.setdefault(kv[0], kv[1])
        elif ctype == b"IEND":
            break
        pos = body_start + length + 4
    if size is None:
        raise PngTextError("no IHDR chunk")
    return texts, size


def _text_chunk(ctype: bytes, body: bytes) -> tuple[str, str] | None:
    try:
        key, _, rest = body.partition(b"\0")
        k = key.decode("latin-1")
        if ctype == b"tEXt":
            return k, rest.decode("latin-1")
        if ctype == b"zTXt":
            return k, zlib.decompress(rest[1:]).decode("latin-1")
        compressed, rest = rest[0], rest[2:]
        _lang, _, rest = rest.partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        if compressed:
            text = zlib.decompress(text)
        return k, text.decode("utf-8", "replace")
    except (zlib.error, IndexError, UnicodeDecodeError):
        return None


def _is_link(v: Any) -> bool:
    return (isinstance(v, (list, tuple)) and len(v) == 2 and isinstance(v[0], (str, int))
            and not isinstance(v[0], bool) and isinstance(v[1], int) and not isinstance(v[1], bool))


class Graph:
    """An API-format graph with link helpers; every walk is bounded and cycle-safe."""

    def __init__(self, nodes: dict[str, Any]):
        self.nodes = {str(k): v for k, v in nodes.items() if isinstance(v, dict)}

    def node(self, link: Any) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        if not _is_link(link):
            return None
        n = self.nodes.get(str(link[0]))
        if n is None:
            return None
        inputs = n.get("inputs")
        return str(n.get("class_type") or ""), (inputs if isinstance(inputs, dict) else {}), n

    def value(self, v: Any, depth: int = 0) -> Any:
        """A literal, or what a link to a primitive-like node holds."""
        if not _is_link(v):
            return v
        found = self.node(v)
        if found is None or depth > 10:
            return None
        _ct, inputs, _n = found
        for k in VALUE_INPUTS:
            if k in inputs and not isinstance(inputs[k], dict):
                return self.value(inputs[k], depth + 1)
        if len(inputs) == 1:
            return self.value(next(iter(inputs.values())), depth + 1)
        return None

    def string(self, v: Any, depth: int = 0) -> str | None:
        """A text value, following string primitives and concatenation nodes."""
        if isinstance(v, str):
            return v
        found = self.node(v) if depth <= 10 else None
        if found is None:
            return None
        _ct, inputs, _n = found
        if "string_a" in inputs or "text_a" in inputs:
            parts = [self.string(inputs[k], depth + 1) for k in sorted(inputs) if k.startswith(("string_", "text_"))]
            delim = inputs.get("delimiter", "")
            return (delim if isinstance(delim, str) else "").join(p for p in parts if p)
        for k in VALUE_INPUTS + TEXT_INPUTS:
            if k in inputs:
                s = self.string(inputs[k], depth + 1)
                if s is not None:
                    return s
        strs = [x for x in inputs.values() if isinstance(x, str)]
        return strs[0] if len(strs) == 1 else None

    def texts(self, link: Any) -> list[str]:
        """Prompt texts feeding a conditioning input, through combine/concat/controlnet nodes."""
        out: list[str] = []
        seen: set[tuple[str, int]] = set()
        stack = [link]
        while stack and len(seen) < MAX_HOPS:
            cur = stack.pop()
            if not _is_link(cur) or (str(cur[0]), cur[1]) in seen:
                continue
            seen.add((str(cur[0]), cur[1]))
            found = self.node(cur)
            if found is None:
                continue
            _ct, inputs, _n = found
            texts = [self.string(inputs[k]) for k in TEXT_INPUTS if k in inputs]
            texts = [t for t in texts if t]
            if texts:
                for t in texts:
                    if t not in out:
                        out.append(t)
                continue
            if "positive" in inputs and "negative" in inputs:
                stack.append(inputs["negative"] if cur[1] == 1 else inputs["positive"])
                continue
            nexts = [v for k, v in sorted(inputs.items()) if _is_link(v) and (k.startswith(("conditioning", "cond")) or k in ("positive", "negative"))]
            stack.extend(reversed(nexts))
        return out

    def ancestors(self, link: Any, limit: int = MAX_HOPS) -> list[tuple[str, str, dict[str, Any]]]:
        """Every node upstream of a link (breadth first): (id, class_type, inputs)."""
        out, seen, queue = [], set(), [link]
        while queue and len(out) < limit:
            cur = queue.pop(0)
            if not _is_link(cur) or str(cur[0]) in seen:
                continue
            seen.add(str(cur[0]))
            found = self.node(cur)
            if found is None:
                continue
            ct, inputs, _n = found
            out.append((str(cur[0]), ct, inputs))
            queue.extend(v for v in inputs.values() if _is_link(v))
        return out


def _is_sampler(ct: str, inputs: Any = None) -> bool:
    """Core samplers by class_type; custom ones (`KSampler (Efficient)`) only if they take a model or guider."""
    if ct in SAMPLER_TYPES:
        return True
    low = ct.lower()
    return ("ksampler" in low or "samplercustom" in low) and isinstance(inputs, dict) and (
        "model" in inputs or "guider" in inputs)


def _sort_key(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)


def find_sampler(g: Graph) -> tuple[str, dict[str, Any]] | None:
    """The first-pass sampler: one whose latent does not come from another sampler."""
    samplers = sorted((nid for nid, n in g.nodes.items() if _is_sampler(str(n.get("class_type") or ""), n.get("inputs"))),
                      key=_sort_key)
    if not samplers:
        return None
    for nid in samplers:
        inputs = g.nodes[nid].get("inputs") or {}
        latent = inputs.get("latent_image") if isinstance(inputs, dict) else None
        if not any(_is_sampler(ct, i) for _nid, ct, i in g.ancestors(latent)):
            return nid, g.nodes[nid]
    return samplers[0], g.nodes[samplers[0]]


def lora_kind(name: str) -> str:
    """`speed` for turbo/lightning/hyper/LCM-style LoRAs (by file name), else `character`."""
    return "speed" if SPEED_LORA.search(_basename(name)) else "character"


def _basename(name: str) -> str:
    return PureWindowsPath(PurePosixPath(name).name).name if name else name


def assign_loras(loras: list[dict[str, Any]]) -> dict[str, Any]:
    """Result columns from a LoRA list: the first character LoRA and the first speed LoRA."""
    out: dict[str, Any] = {"loras": loras}
    char = next((x for x in loras if x.get("kind") == "character"), None)
    speed = next((x for x in loras if x.get("kind") == "speed"), None)
    out["use_lora"] = char is not None
    if char is not None:
        out["lora_name"], out["lora_strength"] = char["name"], char.get("strength")
    out["use_speed_lora"] = speed is not None
    if speed is not None:
        out["speed_lora_name"], out["speed_lora_strength"] = speed["name"], speed.get("strength")
    return out


def _model_chain(g: Graph, link: Any, out: dict[str, Any]) -> None:
    loras: list[dict[str, Any]] = []
    seen: set[str] = set()
    while _is_link(link) and str(link[0]) not in seen and len(seen) < MAX_HOPS:
        seen.add(str(link[0]))
        found = g.node(link)
        if found is None:
            break
        ct, inputs, node = found
        if "lora_name" in inputs and not node.get("_bypassed"):
            name = g.string(inputs["lora_name"])
            strength = g.value(inputs.get("strength_model", inputs.get("strength", inputs.get("lora_strength"))))
            if name:
                entry = {"name": name, "strength": strength if isinstance(strength, (int, float)) else None,
                         "node": ct}
                clip = g.value(inputs.get("strength_clip"))
                if isinstance(clip, (int, float)):
                    entry["strength_clip"] = clip
                loras.append(entry)
        for v in inputs.values():  # rgthree's Power Lora Loader: {"on", "lora", "strength"}
            if isinstance(v, dict) and v.get("on") and isinstance(v.get("lora"), str):
                loras.append({"name": v["lora"], "strength": v.get("strength"), "node": ct})
        if "ckpt_name" in inputs:
            out["checkpoint"] = out["model"] = g.string(inputs["ckpt_name"])
            break
        if "unet_name" in inputs:
            out["unet"] = out["model"] = g.string(inputs["unet_name"])
            break
        link = inputs.get("model")
    loras.reverse()  # load order: the loader end first
    for entry in loras:
        entry["kind"] = lora_kind(entry["name"])
        if isinstance(entry.get("strength"), bool):
            entry["strength"] = None
    out.update(assign_loras(loras))


def _sampler_params(g: Graph, ct: str, inputs: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """Scalars of the sampler and of the nodes it delegates to; returns the links to follow."""
    links = {k: inputs.get(k) for k in ("model", "positive", "negative", "latent_image")}
    for key, names in (("seed", ("seed", "noise_seed")), ("steps", ("steps",)), ("cfg", ("cfg",)),
                       ("sampler", ("sampler_name",)), ("scheduler", ("scheduler",)), ("denoise", ("denoise",))):
        for n in names:
            if n in inputs:
                v = g.value(inputs[n])
                if v is not None:
                    out[key] = v
                    break
    for part in ("noise", "sampler", "sigmas", "guider"):
        found = g.node(inputs.get(part))
        if found is None:
            continue
        pct, pin, _n = found
        if part == "noise":
            out.setdefault("seed", g.value(pin.get("noise_seed", pin.get("seed"))))
        elif part == "sampler":
            out.setdefault("sampler", g.value(pin.get("sampler_name")) or pct)
        elif part == "sigmas":
            out.setdefault("scheduler", g.value(pin.get("scheduler")) or pct)
            if "steps" in pin:
                out.setdefault("steps", g.value(pin["steps"]))
            if "denoise" in pin:
                out.setdefault("denoise", g.value(pin["denoise"]))
        else:
            if "cfg" in pin:
                out.setdefault("cfg", g.value(pin["cfg"]))
            links["model"] = links["model"] or pin.get("model")
            links["positive"] = links["positive"] or pin.get("positive") or pin.get("conditioning") or pin.get("cond1")
            links["negative"] = links["negative"] or pin.get("negative")
    return links


def _size(g: Graph, latent: Any, out: dict[str, Any]) -> None:
    for _nid, _ct, inputs in g.ancestors(latent):
        if "width" in inputs and "height" in inputs:
            w, h = g.value(inputs["width"]), g.value(inputs["height"])
            if isinstance(w, int) and isinstance(h, int) and not isinstance(w, bool) and not isinstance(h, bool):
                out["width"], out["height"] = w, h
            return


def _loaders(g: Graph, out: dict[str, Any]) -> None:
    for n in g.nodes.values():
        inputs = n.get("inputs") if isinstance(n.get("inputs"), dict) else {}
        if "clip_name" in inputs and "text_encoder" not in out:
            out["text_encoder"] = g.string(inputs["clip_name"])
        elif "clip_name1" in inputs and "text_encoder" not in out:
            names = [g.string(inputs[k]) for k in sorted(inputs) if k.startswith("clip_name")]
            out["text_encoder"] = ", ".join(x for x in names if x)
        if "vae_name" in inputs and "vae" not in out:
            out["vae"] = g.string(inputs["vae_name"])
        if str(n.get("class_type")) == "FluxGuidance" and "flux_guidance" not in out:
            out["flux_guidance"] = g.value(inputs.get("guidance"))


def sidecar_from_graph(api: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Sidecar-shaped fields read from an API graph, plus problems found on the way."""
    problems: list[str] = []
    out: dict[str, Any] = {"backend": "comfyui"}
    g = Graph(api)
    found = find_sampler(g)
    if found is None:
        problems.append("no sampler node (KSampler, KSamplerAdvanced, SamplerCustom, SamplerCustomAdvanced) in the graph")
        _loaders(g, out)
        return out, problems
    nid, node = found
    ct = str(node.get("class_type") or "")
    inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
    out["sampler_node"] = f"{nid} ({ct})"
    links = _sampler_params(g, ct, inputs, out)
    _model_chain(g, links["model"], out)
    pos, neg = g.texts(links["positive"]), g.texts(links["negative"])
    if pos:
        out["prompt_en"] = "\n".join(pos)
    if neg:
        out["negative"] = "\n".join(neg)
    _size(g, links["latent_image"], out)
    _loaders(g, out)
    n_samplers = sum(1 for n in g.nodes.values() if _is_sampler(str(n.get("class_type") or ""), n.get("inputs")))
    if n_samplers > 1:
        out["n_samplers"] = n_samplers
    return {k: v for k, v in out.items() if v is not None}, problems


def sidecar_from_png_text(texts: dict[str, str]) -> tuple[dict[str, Any] | None, list[str]]:
    """A sidecar-shaped dict from a PNG's `prompt`/`workflow` chunks; None if it has neither."""
    problems: list[str] = []
    api = _json_object(texts.get("prompt"), "prompt", problems)
    if api is not None:
        out, more = sidecar_from_graph(api)
        out["workflow_api"] = api
        return out, problems + more
    ui = _json_object(texts.get("workflow"), "workflow", problems)
    if ui is None:
        return None, problems
    converted, more = ui_to_api(ui)
    out, found = sidecar_from_graph(converted)
    problems.append("only the UI `workflow` chunk is present (no `prompt` chunk): values read from "
                    "widgets_values, best effort")
    return out, problems + more + found


def _json_object(text: str | None, key: str, problems: list[str]) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        problems.append(f"PNG `{key}` chunk is not valid JSON ({str(e)[:80]}); ignored")
        return None
    if not isinstance(obj, dict):
        problems.append(f"PNG `{key}` chunk is not a JSON object; ignored")
        return None
    return obj
