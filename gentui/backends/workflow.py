"""Workflows: a ComfyUI API-format graph plus a TOML binding of gentui's parameters.

The binding names nodes by title (`_meta.title`) or id, so a user can export
any graph from ComfyUI ("Save (API)"), title the nodes, write a few lines of
TOML and drop the pair into their workflows folder. Switches such as
`use_lora = false` remove a node by rewiring its consumers to its inputs,
which is what "no LoRA" means (strength 0 still patches the model on some
loaders and changes caching).
"""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gentui.backends.base import ValidationFailed
from gentui.config import BUILTIN_WORKFLOWS_DIR, Settings


class WorkflowError(ValidationFailed):
    """A workflow pair that cannot be loaded, or parameters it cannot bind."""


# For a bypassed node: the input that carries each output through (output index -> input name).
PASSTHROUGH: dict[str, list[str]] = {
    "LoraLoader": ["model", "clip"],
    "LoraLoaderModelOnly": ["model"],
    "ModelSamplingAuraFlow": ["model"],
    "ModelSamplingDiscrete": ["model"],
    "CLIPSetLastLayer": ["clip"],
}

# Loader node class -> {input: model folder}, for validation against the server.
MODEL_INPUTS: dict[str, dict[str, str]] = {
    "CheckpointLoaderSimple": {"ckpt_name": "checkpoints"},
    "UNETLoader": {"unet_name": "diffusion_models"},
    "CLIPLoader": {"clip_name": "text_encoders"},
    "DualCLIPLoader": {"clip_name1": "text_encoders", "clip_name2": "text_encoders"},
    "VAELoader": {"vae_name": "vae"},
    "LoraLoader": {"lora_name": "loras"},
    "LoraLoaderModelOnly": {"lora_name": "loras"},
}

@dataclass(frozen=True)
class Target:
    node: str
    """Resolved node id."""
    input: str


@dataclass
class Param:
    name: str
    targets: list[Target]
    default: Any
    required: bool = False


@dataclass
class Switch:
    name: str
    node: str
    """Resolved id of the node removed when the switch is false."""
    through: list[str]
    default: bool = True
    when_off: dict[str, Any] = field(default_factory=dict)
    """Parameter defaults that apply while the switch is off."""


@dataclass
class LoraStack:
    """Where a job's character LoRAs go (`[loras] character = ...` in the binding).

    Either copies of a template loader node (`node = "Character LoRA"`), chained one
    after another, with the template's consumers rewired to the last copy (no LoRA:
    the template is bypassed); or new loader nodes of class `cls` chained after a
    model source (`after = "Diffusion Model"`), taking CLIP from `clip_from` (or the
    source's second output) when the class is LoraLoader.
    """

    template: str | None = None
    after: str | None = None
    cls: str = "LoraLoaderModelOnly"
    clip_from: str | None = None


@dataclass
class Workflow:
    """A loaded workflow pair. `bind(params)` returns a new API graph."""

    name: str
    graph: dict[str, Any]
    params: dict[str, Param]
    switches: dict[str, Switch]
    loras: LoraStack | None = None
    description: str = ""
    graph_path: Path | None = None
    binding_path: Path | None = None
    _titles: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def parameters(self) -> list[str]:
        """Every name `bind` accepts (parameters and switches), sorted."""
        return sorted([*self.params, *self.switches])

    @property
    def defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {n: p.default for n, p in self.params.items()}
        out.update({n: s.default for n, s in self.switches.items()})
        return out

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Binding defaults overlaid with the job's values, checked and converted."""
        values = self.defaults
        given: dict[str, Any] = {}
        for key, value in params.items():
            if key == "extra":
                continue
            # Other top-level keys (layout, characters, a standard parameter this
            # workflow lacks) are bookkeeping: only `extra` (from --set) is strict.
            if (key in self.params or key in self.switches) and value is not None:
                given[key] = value
        if params.get("prompt_en") is not None and "positive" in self.params:
            given["positive"] = params["prompt_en"]
        for key, value in (params.get("extra") or {}).items():
            if key not in self.params and key not in self.switches:
                self._unknown(key)
            given[key] = value
        for key, value in given.items():
            values[key] = self._convert(key, value)
        for name, sw in self.switches.items():
            if not values[name]:
                # e.g. no Turbo LoRA -> 30 steps, CFG 4, unless the job says otherwise.
                for k, v in sw.when_off.items():
                    if k not in given:
                        values[k] = v
        return values

    def bind(self, params: dict[str, Any]) -> dict[str, Any]:
        """A deep copy of the graph with the parameters applied, switches honoured and LoRAs chained.

        `params["character_loras"]` (from `JobParams.binding_values`) is the job's stack of
        character LoRAs; a binding without a `[loras]` stack takes at most one, through its
        `lora_name` / `lora_strength` parameters.
        """
        values = self.resolve(params)
        stack = params.get("character_loras")
        graph = copy.deepcopy(self.graph)
        removed: set[str] = set()
        owned: set[Target] = set()
        if stack is not None and self.loras is None and len(stack) > 1:
            raise WorkflowError(
                f"workflow {self.name!r} takes one character LoRA and this job has {len(stack)}; "
                f"add a stack to its binding ({self.binding_path}): [loras] character = {{ node = \"Character LoRA\" }}"
            )
        if stack is not None and self.loras is not None:
            owned = self._apply_stack(graph, stack)
        for name, sw in self.switches.items():
            if self.loras is not None and stack is not None and sw.node == self.loras.template:
                continue  # the stack decides whether the template node stays
            if not values[name]:
                _bypass(graph, sw.node, sw.through)
                removed.add(sw.node)
        for name, p in self.params.items():
            live = [t for t in p.targets if t.node not in removed and t not in owned and t.node in graph]
            if not live:
                continue
            value = values[name]
            if p.required and (value is None or value == ""):
                switch = next((s for s in self.switches.values() if s.node in {t.node for t in p.targets}), None)
                hint = f", or set {switch.name} = false" if switch else ""
                raise WorkflowError(
                    f"workflow {self.name!r}: parameter {name!r} is empty; give it a value "
                    f"(e.g. --set {name}=FILE){hint}"
                )
            for t in live:
                graph[t.node]["inputs"][t.input] = value
        return graph

    def _apply_stack(self, graph: dict[str, Any], stack: list[dict[str, Any]]) -> set[Target]:
        """Chain one loader per LoRA; returns the template inputs the stack set (parameters leave them)."""
        spec = self.loras
        assert spec is not None
        if spec.template is not None:
            tid = spec.template
            template = graph[tid]
            if not stack:
                _bypass(graph, tid, PASSTHROUGH.get(template["class_type"], ["model"]))
                return set()
            outputs = len(PASSTHROUGH.get(template["class_type"], ["model"]))
            consumers = _consumers(graph, tid)
            _set_lora(template, stack[0], 0)
            prev = tid
            for i, lora in enumerate(stack[1:], 2):
                node = copy.deepcopy(self.graph[tid])
                node["inputs"]["model"] = [prev, 0]
                if "clip" in node["inputs"]:
                    node["inputs"]["clip"] = [prev, 1]
                _set_lora(node, lora, i - 1)
                prev = _add_node(graph, node)
            for nid, inp, idx in consumers:
                if idx < outputs:
                    graph[nid]["inputs"][inp] = [prev, idx]
            return {Target(tid, k) for k in ("lora_name", "strength_model", "strength_clip")}
        if not stack:
            return set()
        src = spec.after
        assert src is not None
        links = {0: [src, 0]}
        if spec.cls == "LoraLoader":
            links[1] = [spec.clip_from, 0] if spec.clip_from else [src, 1]
        consumers = {idx: [(n, i) for n, i, _ in _consumers_of(graph, link)] for idx, link in links.items()}
        prev = None
        for k, lora in enumerate(stack):
            inputs: dict[str, Any] = {"model": [prev, 0] if prev else links[0]}
            if spec.cls == "LoraLoader":
                inputs["clip"] = [prev, 1] if prev else links[1]
            node = {"class_type": spec.cls, "inputs": inputs, "_meta": {"title": "Character LoRA"}}
            _set_lora(node, lora, k)
            prev = _add_node(graph, node)
        for idx, users in consumers.items():
            for nid, inp in users:
                graph[nid]["inputs"][inp] = [prev, idx]
        return set()

    def required_models(self, params: dict[str, Any]) -> dict[str, list[str]]:
        """{model folder: [file names]} the bound graph loads, for validation."""
        return required_models(self.bind(params))

    def _unknown(self, key: str) -> None:
        raise WorkflowError(
            f"workflow {self.name!r} ({self.binding_path}) has no parameter {key!r}; "
            f"its parameters: {', '.join(self.parameters)}"
        )

    def _convert(self, key: str, value: Any) -> Any:
        if key in self.switches:
            return _to_bool(self.name, key, value)
        default = self.params[key].default
        try:
            if isinstance(default, bool):
                return _to_bool(self.name, key, value)
            if isinstance(default, int):
                if isinstance(value, float) and value.is_integer():
                    return int(value)
                if isinstance(value, bool) or isinstance(value, float):
                    raise ValueError
                return int(value)
            if isinstance(default, float):
                if isinstance(value, bool):
                    raise ValueError
                return float(value)
        except (TypeError, ValueError):
            kind = "an integer" if isinstance(default, int) else "a number"
            raise WorkflowError(f"workflow {self.name!r}: parameter {key!r} = {value!r}: expected {kind}") from None
        if isinstance(value, (dict, list)):
            raise WorkflowError(f"workflow {self.name!r}: parameter {key!r}: expected a single value, got {value!r}")
        return value if isinstance(value, str) or default is None else str(value)


def _to_bool(wf: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise WorkflowError(f"workflow {wf!r}: parameter {key!r} = {value!r}: expected true or false")


def _bypass(graph: dict[str, Any], node_id: str, through: list[str]) -> None:
    """Remove `node_id`, wiring each consumer of output i to the node's `through[i]` input."""
    node = graph.pop(node_id)
    for other in graph.values():
        for name, value in other.get("inputs", {}).items():
            if _is_link(value) and str(value[0]) == node_id:
                idx = int(value[1])
                if idx >= len(through) or through[idx] not in node["inputs"]:
                    raise WorkflowError(
                        f"cannot bypass node {node_id} ({node.get('class_type')}): nothing feeds its output {idx}"
                    )
                other["inputs"][name] = copy.deepcopy(node["inputs"][through[idx]])


def _consumers(graph: dict[str, Any], node_id: str) -> list[tuple[str, str, int]]:
    """(node, input, output index) of every input linked to an output of `node_id`."""
    return [(nid, name, int(v[1])) for nid, other in graph.items() for name, v in other.get("inputs", {}).items()
            if _is_link(v) and str(v[0]) == node_id]


def _consumers_of(graph: dict[str, Any], link: list[Any]) -> list[tuple[str, str, int]]:
    """(node, input, index) of every input linked to exactly this output."""
    return [(nid, name, int(v[1])) for nid, other in graph.items() for name, v in other.get("inputs", {}).items()
            if _is_link(v) and str(v[0]) == str(link[0]) and int(v[1]) == int(link[1])]


def _add_node(graph: dict[str, Any], node: dict[str, Any]) -> str:
    """Add a node under the next free numeric id (ids stay strings, as ComfyUI writes them)."""
    nid = str(max((int(k) for k in graph if str(k).isdigit()), default=0) + 1)
    graph[nid] = node
    return nid


def _set_lora(node: dict[str, Any], lora: dict[str, Any], index: int) -> None:
    """One LoRA's file and strengths on a loader node; its title says which character it is for."""
    inputs = node["inputs"]
    inputs["lora_name"] = lora["name"]
    inputs["strength_model"] = lora["strength_model"]
    if "strength_clip" in inputs or node.get("class_type") == "LoraLoader":
        clip = lora.get("strength_clip")
        inputs["strength_clip"] = lora["strength_model"] if clip is None else clip
    title = (node.get("_meta") or {}).get("title") or "Character LoRA"
    base = title.split(" (")[0]
    who = lora.get("character") or ""
    node["_meta"] = {**(node.get("_meta") or {}),
                     "title": f"{base} ({who})" if who else (base if index == 0 else f"{base} {index + 1}")}


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def required_models(graph: dict[str, Any]) -> dict[str, list[str]]:
    """{folder: [names]} of every model file an API graph's loader nodes ask for."""
    out: dict[str, list[str]] = {}
    for node in graph.values():
        for inp, folder in MODEL_INPUTS.get(node.get("class_type", ""), {}).items():
            value = node.get("inputs", {}).get(inp)
            if isinstance(value, str) and value and value not in out.get(folder, []):
                out.setdefault(folder, []).append(value)
    return out


# -- loading -------------------------------------------------------------------
def workflow_dirs(settings: Settings) -> list[Path]:
    """Where workflows are looked up, the user's folder first."""
    return [settings.user_workflows_dir, BUILTIN_WORKFLOWS_DIR]


def list_workflows(settings: Settings) -> list[str]:
    """Names of every workflow pair (a .toml binding with its graph), user's first."""
    names: list[str] = []
    for d in workflow_dirs(settings):
        if d.is_dir():
            for p in sorted(d.glob("*.toml")):
                if p.stem not in names:
                    names.append(p.stem)
    return names


def load_workflow(name: str, settings: Settings) -> Workflow:
    """Load workflow `name` from the user's workflows folder, else the built-in one."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise WorkflowError(f"workflow name {name!r}: expected a plain name such as 'anima'")
    for d in workflow_dirs(settings):
        path = d / f"{name}.toml"
        if path.is_file():
            return load_binding(path)
    raise WorkflowError(
        f"workflow {name!r} not found in {', '.join(str(d) for d in workflow_dirs(settings))}; "
        f"available: {', '.join(list_workflows(settings)) or 'none'}"
    )


def load_binding(path: Path) -> Workflow:
    """Read a binding TOML and the graph it names; every error names the file and the key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise WorkflowError(f"{path}: not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkflowError(f"{path}: cannot read: {e}") from None
    meta = raw.get("workflow", {})
    if not isinstance(meta, dict):
        raise WorkflowError(f"{path}: [workflow] must be a table")
    unknown = set(raw) - {"workflow", "params", "switches", "loras"}
    if unknown:
        raise WorkflowError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
                            "allowed: workflow, params, switches, loras")
    graph_name = meta.get("graph", f"{path.stem}.json")
    if not isinstance(graph_name, str):
        raise WorkflowError(f"{path}: workflow.graph must be a file name")
    graph_path = path.parent / graph_name
    if not graph_path.is_file():
        raise WorkflowError(f"{path}: workflow.graph = {graph_name!r}: {graph_path} graph file not found")
    graph = _load_graph(graph_path)
    titles = _title_index(graph, graph_path)
    wf = Workflow(
        name=path.stem, graph=graph, params={}, switches={}, description=str(meta.get("description", "")),
        graph_path=graph_path, binding_path=path, _titles=titles,
    )
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise WorkflowError(f"{path}: [params] must be a table of parameter = {{ node = ..., input = ... }}")
    for pname, spec in params.items():
        wf.params[pname] = _parse_param(path, graph, titles, pname, spec)
    switches = raw.get("switches", {})
    if not isinstance(switches, dict):
        raise WorkflowError(f"{path}: [switches] must be a table of name = {{ bypass = NODE }}")
    for sname, spec in switches.items():
        key = f"switches.{sname}"
        if not isinstance(spec, dict) or "bypass" not in spec:
            raise WorkflowError(f"{path}: {key} must be a table like {{ bypass = \"Character LoRA\" }}")
        bad = set(spec) - {"bypass", "through", "default", "when_off"}
        if bad:
            raise WorkflowError(
                f"{path}: {key}: unknown key(s) {', '.join(sorted(bad))}; allowed: bypass, default, through, when_off"
            )
        if sname in wf.params:
            raise WorkflowError(f"{path}: {key}: {sname!r} is already a parameter")
        node = _find_node(path, graph, titles, f"{key}.bypass", spec["bypass"])
        through = spec.get("through", PASSTHROUGH.get(graph[node].get("class_type", "")))
        if not through or not isinstance(through, list) or not all(isinstance(t, str) for t in through):
            raise WorkflowError(
                f"{path}: {key}: node {spec['bypass']!r} is a {graph[node].get('class_type')} and gentui does not know "
                f"which input feeds each output; add through = [\"model\", ...] (input name per output)"
            )
        default = spec.get("default", True)
        if not isinstance(default, bool):
            raise WorkflowError(f"{path}: {key}.default must be true or false")
        when_off = spec.get("when_off", {})
        if not isinstance(when_off, dict):
            raise WorkflowError(f"{path}: {key}.when_off must be a table like {{ steps = 30, cfg = 4.0 }}")
        wf.switches[sname] = Switch(sname, node, list(through), default, dict(when_off))
    wf.loras = _parse_stack(path, graph, titles, raw.get("loras"))
    for sname, sw in wf.switches.items():
        for k in sw.when_off:
            if k not in wf.params:
                raise WorkflowError(f"{path}: switches.{sname}.when_off.{k}: no parameter {k!r} in [params]")
    return wf


LORA_LOADERS = ("LoraLoader", "LoraLoaderModelOnly")


def _parse_stack(path: Path, graph: dict[str, Any], titles: dict[str, str], raw: Any) -> LoraStack | None:
    """`[loras] character = { node = TEMPLATE }` or `{ after = NODE, class = ..., clip_from = NODE }`."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"character"} or not isinstance(raw.get("character"), dict):
        raise WorkflowError(f"{path}: [loras] takes one key, character = {{ node = \"Character LoRA\" }} "
                            "(or {{ after = \"Diffusion Model\", class = \"LoraLoaderModelOnly\" }})")
    spec = raw["character"]
    key = "loras.character"
    bad = set(spec) - {"node", "after", "class", "clip_from"}
    if bad:
        raise WorkflowError(f"{path}: {key}: unknown key(s) {', '.join(sorted(bad))}; allowed: node, after, class, clip_from")
    if ("node" in spec) == ("after" in spec):
        raise WorkflowError(f"{path}: {key}: give either node (a LoRA loader to copy) or after (the model source)")
    if "node" in spec:
        nid = _find_node(path, graph, titles, f"{key}.node", spec["node"])
        if graph[nid]["class_type"] not in LORA_LOADERS:
            raise WorkflowError(f"{path}: {key}.node = {spec['node']!r} is a {graph[nid]['class_type']}, not one of "
                                f"{', '.join(LORA_LOADERS)}")
        return LoraStack(template=nid)
    cls = spec.get("class", "LoraLoaderModelOnly")
    if cls not in LORA_LOADERS:
        raise WorkflowError(f"{path}: {key}.class = {cls!r}: allowed {', '.join(LORA_LOADERS)}")
    after = _find_node(path, graph, titles, f"{key}.after", spec["after"])
    clip_from = _find_node(path, graph, titles, f"{key}.clip_from", spec["clip_from"]) if "clip_from" in spec else None
    return LoraStack(after=after, cls=cls, clip_from=clip_from)


def _load_graph(path: Path) -> dict[str, Any]:
    try:
        graph = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkflowError(f"{path}: graph file not found (named by workflow.graph)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkflowError(f"{path}: cannot read: {e}") from None
    except json.JSONDecodeError as e:
        raise WorkflowError(f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(graph, dict) or "nodes" in graph:
        raise WorkflowError(
            f"{path}: not a ComfyUI API-format graph ({{node_id: {{class_type, inputs}}}}); "
            "in ComfyUI use Workflow > Export (API)"
        )
    for nid, node in graph.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str) or not isinstance(node.get("inputs"), dict):
            raise WorkflowError(f"{path}: node {nid!r} needs class_type (string) and inputs (object)")
    return graph


def _title_index(graph: dict[str, Any], path: Path) -> dict[str, str]:
    titles: dict[str, str] = {}
    dupes: set[str] = set()
    for nid, node in graph.items():
        title = (node.get("_meta") or {}).get("title")
        if isinstance(title, str):
            if title in titles:
                dupes.add(title)
            titles[title] = nid
    for t in dupes:
        titles[t] = ""  # ambiguous: refused when used
    return titles


def _find_node(path: Path, graph: dict[str, Any], titles: dict[str, str], key: str, ref: Any) -> str:
    if isinstance(ref, int) and not isinstance(ref, bool):
        ref = str(ref)
    if not isinstance(ref, str):
        raise WorkflowError(f"{path}: {key} must be a node title or id, got {ref!r}")
    if ref in titles:
        if not titles[ref]:
            raise WorkflowError(f"{path}: {key} = {ref!r}: several nodes have this title; use the node id")
        return titles[ref]
    if ref in graph:
        return ref
    known = sorted(t for t in titles if titles[t])
    raise WorkflowError(
        f"{path}: {key} = {ref!r} matches no node title or id in the graph; "
        f"titles there: {', '.join(known) or 'none'}; ids: {', '.join(graph)}"
    )


def _parse_param(path: Path, graph: dict[str, Any], titles: dict[str, str], pname: str, spec: Any) -> Param:
    key = f"params.{pname}"
    if not isinstance(spec, dict):
        raise WorkflowError(f"{path}: {key} must be a table like {{ node = \"KSampler\", input = \"seed\" }}")
    allowed = {"node", "input", "targets", "default", "required"}
    extra = set(spec) - allowed
    if extra:
        raise WorkflowError(f"{path}: {key}: unknown key(s) {', '.join(sorted(extra))}; allowed: {', '.join(sorted(allowed))}")
    raw_targets: list[tuple[Any, Any]] = []
    if "targets" in spec:
        if not isinstance(spec["targets"], list) or not spec["targets"]:
            raise WorkflowError(f"{path}: {key}.targets must be a list of {{ node, input }} tables")
        for i, t in enumerate(spec["targets"]):
            if not isinstance(t, dict):
                raise WorkflowError(f"{path}: {key}.targets[{i}] must be a {{ node, input }} table")
            raw_targets.append((t.get("node"), t.get("input")))
    else:
        raw_targets.append((spec.get("node"), spec.get("input")))
    targets: list[Target] = []
    for node_ref, inputs in raw_targets:
        if node_ref is None or inputs is None:
            raise WorkflowError(f"{path}: {key} needs both node and input")
        nid = _find_node(path, graph, titles, f"{key}.node", node_ref)
        for inp in inputs if isinstance(inputs, list) else [inputs]:
            if not isinstance(inp, str):
                raise WorkflowError(f"{path}: {key}.input must be an input name or a list of them")
            node_inputs = graph[nid]["inputs"]
            if inp not in node_inputs:
                raise WorkflowError(
                    f"{path}: {key}.input = {inp!r}: node {node_ref!r} ({graph[nid]['class_type']}) has no such input; "
                    f"its inputs: {', '.join(node_inputs)}"
                )
            if _is_link(node_inputs[inp]):
                raise WorkflowError(f"{path}: {key}.input = {inp!r} is a link from another node, not a value")
            targets.append(Target(nid, inp))
    default = spec.get("default", graph[targets[0].node]["inputs"][targets[0].input])
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise WorkflowError(f"{path}: {key}.required must be true or false")
    return Param(pname, targets, default, required)
