"""Prompt validation with ComfyUI's error shapes (execution.validate_prompt).

The walk follows the real server step by step, including its quirks: a link to
a node that does not exist is reported under the *downstream* node with the
consumer's input name, upstream failures are reported once per dependent
output, and an output node with good inputs is queued even when another output
fails (the reply is then 200 with non-empty `node_errors`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gentui.simulator.catalogue import ModelCatalogue
from gentui.simulator.nodes import NODE_SPECS

_TB_INNER = [
    (
        '  File "ComfyUI/execution.py", line 808, in validate_inputs\n'
        "    r = await validate_inputs(prompt_id, prompt, o_id, validated)\n"
        "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    ),
    (
        '  File "ComfyUI/execution.py", line 788, in validate_inputs\n'
        "    o_class_type = prompt[o_id]['class_type']\n"
        "                   ~~~~~~^^^^^^\n"
    ),
]


class PromptShapeError(Exception):
    """The body is not a graph at all; the real server answers a bare 500 here."""


@dataclass
class Verdict:
    """The outcome of validating one prompt.

    Attributes:
        ok: queue it (at least one output is valid).
        error: the top-level `error` object when not ok.
        outputs: ids of the output nodes that will run.
        node_errors: `{node_id: {"errors", "dependent_outputs", "class_type"}}`.
    """

    ok: bool
    error: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, Any] = field(default_factory=dict)


_CASTS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


def unwrap_input(val: Any) -> Any:
    """A widget value given as `{"__value__": v}` is `v`."""
    return val["__value__"] if isinstance(val, dict) and "__value__" in val else val


def coerce_input(input_type: Any, val: Any) -> Any:
    """A widget value cast the way ComfyUI casts it; raises like int("abc"). Combos (lists) stay as given."""
    cast = _CASTS.get(input_type) if isinstance(input_type, str) else None
    return cast(val) if cast else val


def _err(type_: str, message: str, details: str = "", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": type_, "message": message, "details": details, "extra_info": extra or {}}


def validate_prompt(
    prompt: Any, cat: ModelCatalogue, newer: bool = False, partial_targets: list[str] | None = None
) -> Verdict:
    """Validate an API-format graph; `newer` switches to post-Jobs-API error types."""
    if not isinstance(prompt, dict):
        raise PromptShapeError("prompt is not an object")
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            raise PromptShapeError(f"node {node_id} is not an object")
        title = (node.get("_meta") or {}).get("title") if isinstance(node.get("_meta"), dict) else None
        if "class_type" not in node:
            if newer:
                return Verdict(
                    False,
                    _err(
                        "missing_node_type",
                        f"Node '{title or f'ID #{node_id}'}' has no class_type. The workflow may be corrupted or a "
                        "custom node is missing.",
                        f"Node ID '#{node_id}'",
                        {"node_id": node_id, "class_type": None, "node_title": title},
                    ),
                )
            return Verdict(
                False,
                _err(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{node_id}'",
                ),
            )
        class_type = node["class_type"]
        spec = NODE_SPECS.get(class_type) if isinstance(class_type, str) else None
        if spec is None:
            if newer:
                title = title or class_type
                return Verdict(
                    False,
                    _err(
                        "missing_node_type",
                        f"Node '{title}' not found. The custom node may not be installed.",
                        f"Node ID '#{node_id}'",
                        {"node_id": node_id, "class_type": class_type, "node_title": title},
                    ),
                )
            return Verdict(
                False,
                _err(
                    "invalid_prompt",
                    f"Cannot execute because node {class_type} does not exist.",
                    f"Node ID '#{node_id}'",
                ),
            )
        if spec.output_node and (partial_targets is None or node_id in partial_targets):
            outputs.append(node_id)
    if not outputs:
        return Verdict(False, _err("prompt_no_outputs", "Prompt has no outputs"))

    validated: dict[str, tuple[bool, list[dict[str, Any]], str]] = {}
    good: list[str] = []
    failures: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    for out in outputs:
        try:
            valid, reasons, _ = _validate_inputs(prompt, out, validated, cat)
        except Exception as ex:  # noqa: BLE001 - mirrors the server's catch-all
            valid, reasons = (
                False,
                [
                    _err(
                        "exception_during_validation",
                        "Exception when validating node",
                        str(ex),
                        {"exception_type": _type_name(ex), "traceback": []},
                    )
                ],
            )
            validated[out] = (False, reasons, out)
        if valid:
            good.append(out)
            continue
        failures.append((out, reasons))
        for nid, (ok, why, _) in validated.items():
            if not ok and why:
                entry = node_errors.setdefault(
                    nid, {"errors": why, "dependent_outputs": [], "class_type": prompt[nid]["class_type"]}
                )
                entry["dependent_outputs"].append(out)
    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, errs in failures for e in errs)
        return Verdict(
            False,
            _err("prompt_outputs_failed_validation", "Prompt outputs failed validation", details),
            [],
            node_errors,
        )
    return Verdict(True, None, good, node_errors)


def _type_name(ex: BaseException) -> str:
    t = type(ex)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _validate_inputs(
    prompt: dict[str, Any], node_id: str, validated: dict, cat: ModelCatalogue, visiting: list[str] | None = None
):
    visiting = visiting if visiting is not None else []
    if node_id in validated:
        return validated[node_id]
    if node_id in visiting:  # newer servers name the cycle; v0.3.64 recursed until RecursionError
        path = visiting[visiting.index(node_id) :] + [node_id]
        members = list(dict.fromkeys(path))
        details = " -> ".join(f"{n} ({prompt[n]['class_type']})" for n in path)
        for n in members:
            validated[n] = (
                False,
                [
                    _err(
                        "dependency_cycle", "Dependency cycle detected", details, {"node_id": n, "cycle_nodes": members}
                    )
                ],
                n,
            )
        return validated[node_id]
    node = prompt[node_id]
    inputs = node.get("inputs") or {}
    spec = NODE_SPECS[node["class_type"]]
    groups = spec.inputs(cat)
    errors: list[dict[str, Any]] = []
    valid = True
    for category in ("required", "optional"):
        for name, (input_type, opts) in groups.get(category, {}).items():
            info = [input_type, opts]
            if name not in inputs:
                if category == "required":
                    errors.append(
                        _err("required_input_missing", "Required input is missing", name, {"input_name": name})
                    )
                continue
            val = inputs[name]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(
                        _err(
                            "bad_linked_input",
                            "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                            name,
                            {"input_name": name, "input_config": info, "received_value": val},
                        )
                    )
                    continue
                o_id = val[0]
                src = prompt[o_id]  # KeyError for a missing node, caught by the caller like the server does
                received = NODE_SPECS[src["class_type"]].return_types[val[1]]
                if not _types_match(received, input_type):
                    errors.append(
                        _err(
                            "return_type_mismatch",
                            "Return type mismatch between linked nodes",
                            f"{name}, received_type({received}) mismatch input_type({input_type})",
                            {"input_name": name, "input_config": info, "received_type": received, "linked_node": val},
                        )
                    )
                    continue
                try:
                    visiting.append(node_id)
                    try:
                        r = _validate_inputs(prompt, o_id, validated, cat, visiting)
                    finally:
                        visiting.pop()
                    if r[0] is False:
                        valid = False
                        continue
                except Exception as ex:  # noqa: BLE001 - the server files it under the linked node
                    valid = False
                    reasons = [
                        _err(
                            "exception_during_inner_validation",
                            "Exception when validating inner node",
                            str(ex),
                            {
                                "input_name": name,
                                "input_config": info,
                                "exception_message": str(ex),
                                "exception_type": _type_name(ex),
                                "traceback": list(_TB_INNER),
                                "linked_node": val,
                            },
                        )
                    ]
                    validated[o_id] = (False, reasons, o_id)
                    continue
                continue
            val = unwrap_input(val)
            try:
                val = coerce_input(input_type, val)
            except Exception as ex:  # noqa: BLE001 - int("abc") and friends
                errors.append(
                    _err(
                        "invalid_input_type",
                        f"Failed to convert an input value to a {input_type} value",
                        f"{name}, {val}, {ex}",
                        {"input_name": name, "input_config": info, "received_value": val, "exception_message": str(ex)},
                    )
                )
                continue
            if "min" in opts and val < opts["min"]:
                errors.append(
                    _err(
                        "value_smaller_than_min",
                        f"Value {val} smaller than min of {opts['min']}",
                        name,
                        {"input_name": name, "input_config": info, "received_value": val},
                    )
                )
                continue
            if "max" in opts and val > opts["max"]:
                errors.append(
                    _err(
                        "value_bigger_than_max",
                        f"Value {val} bigger than max of {opts['max']}",
                        name,
                        {"input_name": name, "input_config": info, "received_value": val},
                    )
                )
                continue
            if isinstance(input_type, list) and val not in input_type:
                if len(input_type) > 20:
                    list_info, config = f"(list of length {len(input_type)})", None
                else:
                    list_info, config = str(input_type), info
                errors.append(
                    _err(
                        "value_not_in_list",
                        "Value not in list",
                        f"{name}: '{val}' not in {list_info}",
                        {"input_name": name, "input_config": config, "received_value": val},
                    )
                )
                continue
    earlier = validated.get(node_id, (True, [], node_id))  # a cycle found below may have marked us already
    ret = (earlier[0] and valid and not errors, earlier[1] + [e for e in errors if e not in earlier[1]], node_id)
    validated[node_id] = ret
    return ret


def _types_match(received: str, expected: Any) -> bool:
    if not isinstance(expected, str):
        return False  # a link into a combo widget
    if received == "*" or expected == "*":
        return True
    return bool(set(received.split(",")) & set(expected.split(",")))


def coerce_inputs(node: dict[str, Any], cat: ModelCatalogue) -> dict[str, Any]:
    """The node's literal inputs converted the way validation converted them."""
    spec = NODE_SPECS[node["class_type"]]
    out = dict(node.get("inputs") or {})
    for category in spec.inputs(cat).values():
        for name, (input_type, _opts) in category.items():
            if name not in out or isinstance(out[name], list):
                continue
            out[name] = unwrap_input(out[name])
            try:
                out[name] = coerce_input(input_type, out[name])
            except (TypeError, ValueError):
                pass
    return out
