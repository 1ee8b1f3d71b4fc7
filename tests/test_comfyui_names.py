"""Server-given output names: only plain file names pass, whatever the server sends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gentui.backends.comfy_errors import describe_prompt_error
from gentui.backends.comfy_http import (
    UnsafeOutput,
    check_output_name,
    is_prompt_id,
    new_prompt_id,
)


@given(st.text(max_size=40), st.text(max_size=20), st.sampled_from(["output", "temp", "input", "x", ""]))
def test_accepted_names_cannot_escape(filename, subfolder, kind):
    try:
        check_output_name(filename, subfolder, kind)
    except UnsafeOutput:
        return
    assert "/" not in filename and "\\" not in filename and filename not in ("", ".", "..")
    assert not subfolder.startswith("/") and ".." not in subfolder.split("/")
    assert kind in ("output", "temp", "input")


@pytest.mark.parametrize("name", ["../x.png", "/etc/passwd", "a/b.png", "..", "c:evil.png", "x\x00.png", ""])
def test_hostile_names_are_refused(name):
    with pytest.raises(UnsafeOutput):
        check_output_name(name, "", "output")


def test_prompt_ids_are_canonical_uuids():
    pid = new_prompt_id()
    assert is_prompt_id(pid) and pid == pid.lower()
    assert not is_prompt_id(pid.upper()) and not is_prompt_id("my-own-id-123")


GRAPH = {"3": {"class_type": "LoraLoaderModelOnly", "inputs": {}, "_meta": {"title": "Character LoRA"}}}


def test_both_generations_of_unknown_node_errors_read_well():
    old = {"error": {"type": "invalid_prompt", "message": "Cannot execute because node NoSuchNode does not exist.",
                     "details": "Node ID '#3'", "extra_info": {}}, "node_errors": {}}
    new = {"error": {"type": "missing_node_type", "message": "Node 'NoSuchNode' not found",
                     "details": "", "extra_info": {"node_id": "3", "class_type": "NoSuchNode",
                                                   "node_title": "Character LoRA"}}, "node_errors": {}}
    for body in (old, new):
        msg = describe_prompt_error(body, GRAPH)
        assert "NoSuchNode" in msg and "Character LoRA" in msg and "node 3" in msg


def test_node_errors_are_flattened_with_title_input_and_choices():
    body = {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
            "node_errors": {"3": {"class_type": "LoraLoaderModelOnly", "errors": [
                {"type": "value_not_in_list", "message": "Value not in list",
                 "details": "lora_name: 'x' not in ['a.safetensors']",
                 "extra_info": {"input_name": "lora_name", "input_config": [["a.safetensors"], {}],
                                "received_value": "x"}}]}}}
    msg = describe_prompt_error(body, GRAPH)
    assert "Character LoRA (LoraLoaderModelOnly, node 3): lora_name 'x'" in msg and "a.safetensors" in msg


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3)
    | st.dictionaries(st.sampled_from(["type", "message", "details", "extra_info", "errors", "class_type",
                                       "input_name", "input_config", "node_id", "3", "x"]), c, max_size=4),
    max_leaves=25,
)


@given(st.fixed_dictionaries({}, optional={"error": _ANY, "node_errors": _ANY}) | _ANY)
def test_any_error_body_gives_a_message(body):
    assert isinstance(describe_prompt_error(body, GRAPH), str)
