"""The axes a set of results can be laid out or grouped by (seed, weight, layout, ...).

Shared by contact sheets, exported tables and the bleed matrix so that every
view labels and orders an axis the same way: weights as typed (`0.6`, `none`),
numbers numerically, `None` last.
"""

from __future__ import annotations

from typing import Any

from gentui.catalog.sidecar import format_weight

# axis name -> attribute of a result row
AXES: dict[str, str] = {
    "seed": "seed",
    "weight": "lora_strength",
    "variant": "variant",
    "layout": "layout",
    "named": "named",
    "chars": "n_characters",
    "workflow": "workflow",
    "model": "model",
    "steps": "steps",
    "cfg": "cfg",
    "lora": "lora_name",
    "sweep": "sweep_name",
    "backend": "backend",
}


class AxisError(ValueError):
    """An axis name that does not exist; the message lists the ones that do."""


def check_axis(name: str) -> str:
    if name not in AXES:
        raise AxisError(f"unknown axis {name!r}; choose one of: {', '.join(AXES)}")
    return name


def axis_value(row: Any, axis: str) -> Any:
    value = getattr(row, AXES[check_axis(axis)], None)
    if axis == "weight" and value is not None and getattr(row, "use_lora", True) is False:
        return None
    return value


def axis_label(axis: str, value: Any) -> str:
    """How a value of an axis is printed in headers and cells."""
    if axis == "weight":
        return format_weight(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def sort_key(value: Any) -> tuple:
    """Numbers in numeric order, then text, then None."""
    if value is None:
        return (2, 0, "")
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value))


def ordered_values(rows: list[Any], axis: str) -> list[Any]:
    return sorted({axis_value(r, axis) for r in rows}, key=sort_key)
