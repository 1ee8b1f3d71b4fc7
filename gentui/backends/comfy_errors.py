"""ComfyUI's error bodies -> one readable message each.

`POST /prompt` answers 400 with `{"error": {...}, "node_errors": {...}}`; a user
needs "Character LoRA (LoraLoaderModelOnly, node 3): lora_name 'x' is not on
the server; it has: a, b", not the raw JSON. Both generations of the
unknown-node error (`invalid_prompt` on v0.3, `missing_node_type` later) are read.
"""

from __future__ import annotations

import re
from typing import Any

from gentui.backends.workflow import MODEL_INPUTS

_LIST_LEN = re.compile(r"\(list of length (\d+)\)")
MAX_LISTED = 40


def _d(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def node_label(graph: dict[str, Any], node_id: str, class_type: str = "") -> str:
    """`Title (Class, node N)` using the graph we sent."""
    node = _d(graph.get(str(node_id), {}) if isinstance(graph, dict) else {})
    title = _d(node.get("_meta")).get("title")
    cls = str(class_type or node.get("class_type", "") or "")
    if title and title != cls:
        return f"{title} ({cls}, node {node_id})"
    return f"{cls or 'node'} (node {node_id})" if cls else f"node {node_id}"


def list_names(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" ... and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def folder_of(class_type: str, input_name: str) -> str | None:
    return MODEL_INPUTS.get(class_type, {}).get(input_name)


def truncated_choices(err: dict[str, Any]) -> bool:
    """A value_not_in_list whose details only say `(list of length N)`."""
    return isinstance(err, dict) and err.get("type") == "value_not_in_list" and bool(
        _LIST_LEN.search(str(err.get("details", "")))
    )


def describe_node_error(
    graph: dict[str, Any], node_id: str, class_type: str, err: dict[str, Any], choices: list[str] | None = None
) -> str:
    """One line per error: node, input, what is wrong, and what the server has."""
    extra = _d(err.get("extra_info"))
    inp = str(extra.get("input_name") or "")
    label = node_label(graph, node_id, class_type)
    etype = err.get("type", "")
    if etype == "value_not_in_list":
        received = extra.get("received_value")
        if choices is None:
            cfg = extra.get("input_config")
            if isinstance(cfg, list) and cfg and isinstance(cfg[0], list):
                choices = [str(c) for c in cfg[0]]
        folder = folder_of(class_type, inp)
        what = f"{folder} file" if folder else "value"
        msg = f"{label}: {inp} {received!r} is not a {what} the server has"
        if choices is not None:
            msg += f"; it has: {list_names(choices)}"
        else:
            msg += f" ({err.get('details', '')})"
        return msg
    if etype == "required_input_missing":
        return f"{label}: required input {inp or err.get('details', '')!r} is missing"
    details = err.get("details") or ""
    text = f"{label}: {inp + ': ' if inp else ''}{err.get('message', etype)}"
    if details and details != inp:
        text += f" ({details})"
    return text


def describe_prompt_error(
    body: Any, graph: dict[str, Any], choices: dict[tuple[str, str], list[str]] | None = None
) -> str:
    """The message for a `POST /prompt` 400 body (or anything else the server sent)."""
    if not isinstance(body, dict):
        return f"the server refused the prompt: {str(body)[:300]}"
    err = _d(body.get("error"))
    etype = str(err.get("type", ""))
    extra = _d(err.get("extra_info"))
    if etype in ("invalid_prompt", "missing_node_type"):
        cls = extra.get("class_type") if isinstance(extra.get("class_type"), str) else None
        m = re.search(r"node (\S+) does not exist", str(err.get("message", "")))
        cls = cls or (m.group(1) if m else None)
        if cls:
            nid = extra.get("node_id") or _node_id_from_details(err.get("details", ""))
            nid = str(nid) if nid is not None else None
            where = node_label(graph, nid, cls) if nid else cls
            title = extra.get("node_title")
            if title and nid is None:
                where = f"{title} ({cls})"
            return (
                f"the server has no node class {cls!r} (used by {where}); "
                f"install the custom node that provides it or change the workflow"
            )
        return f"the server refused the prompt: {err.get('message', etype)} {err.get('details', '')}".strip()
    lines: list[str] = []
    for nid, ne in _d(body.get("node_errors")).items():
        if not isinstance(ne, dict):
            continue
        cls = str(ne.get("class_type", ""))
        for e in _l(ne.get("errors")):
            if isinstance(e, dict):
                inp = str(_d(e.get("extra_info")).get("input_name", ""))
                lines.append(describe_node_error(graph, str(nid), cls, e, (choices or {}).get((str(nid), inp))))
    head = str(err.get("message") or etype or "the server refused the prompt")
    if lines:
        return f"{head}: " + "; ".join(lines)
    return f"{head}{': ' + str(err['details']) if err.get('details') else ''}"


def _node_id_from_details(details: Any) -> str | None:
    m = re.search(r"#([^'\"]+)", str(details))
    return m.group(1) if m else None


def runtime_error(data: dict[str, Any], graph: dict[str, Any]) -> str:
    """An `execution_error` event (or history message) -> `Node: ExceptionType: message`."""
    nid = str(data.get("node_id", ""))
    label = node_label(graph, nid, data.get("node_type", "")) if nid else data.get("node_type", "a node")
    etype = str(data.get("exception_type", "")).rsplit(".", 1)[-1]
    msg = str(data.get("exception_message", "")).strip()
    return f"{label} failed: {etype + ': ' if etype else ''}{msg}".strip()
