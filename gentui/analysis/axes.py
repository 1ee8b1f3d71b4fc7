"""The axes a set of results can be laid out or grouped by (seed, weight, layout, ...).

Shared by contact sheets, write-up tables, the bleed matrix and the compare
screen so that every view labels and orders an axis the same way: weights as
typed (`0.6`, `none`), numbers numerically, `None` last.

An axis is an `Axis`: a name, how to read its value from a result row and how
to print a value. Plain names (`weight`, `seed`) are in `AXES`; dotted names
(`weight.kanachan-v4`, one LoRA's weight when an image has several) are made by
a family in `AXIS_FAMILIES`, so such keys can be added without touching the
views. This module is also the one place that lists the result parameters a
write-up reports as fixed (`RESULT_PARAMETERS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gentui.catalog.sidecar import format_weight


@dataclass(frozen=True)
class Axis:
    """One way of grouping results: `value(row)` and `label(value)`."""

    name: str
    attribute: str
    """The result column it reads (for SELECTs that fetch only what they need)."""
    read: Callable[[Any], Any] | None = None
    show: Callable[[Any], str] | None = None
    needs: tuple[str, ...] = ()
    """Other result columns `read` looks at (fetched with `attribute`)."""

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.attribute, *self.needs)

    def value(self, row: Any) -> Any:
        return self.read(row) if self.read else getattr(row, self.attribute, None)

    def label(self, value: Any) -> str:
        return self.show(value) if self.show else default_label(value)


def _weight(row: Any) -> Any:
    value = getattr(row, "lora_strength", None)
    if value is not None and getattr(row, "use_lora", True) is False:
        return None
    return value


def default_label(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_PLAIN: list[Axis] = [
    Axis("seed", "seed"),
    Axis("weight", "lora_strength", _weight, format_weight, needs=("use_lora",)),
    Axis("variant", "variant"),
    Axis("layout", "layout"),
    Axis("named", "named"),
    Axis("chars", "n_characters"),
    Axis("workflow", "workflow"),
    Axis("model", "model"),
    Axis("steps", "steps"),
    Axis("cfg", "cfg"),
    Axis("sampler", "sampler"),
    Axis("scheduler", "scheduler"),
    Axis("speed_weight", "speed_lora_strength", show=format_weight),
    Axis("lora", "lora_name"),
    Axis("sweep", "sweep_name"),
    Axis("backend", "backend"),
]
AXES: dict[str, str] = {a.name: a.attribute for a in _PLAIN}
"""axis name -> attribute of a result row."""
_BY_NAME = {a.name: a for a in _PLAIN}

AXIS_FAMILIES: dict[str, Callable[[str], Axis]] = {}
"""Prefix -> factory for dotted axis names (`weight.NAME`); empty until results carry several LoRAs."""

RESULT_PARAMETERS: list[tuple[str, str]] = [
    ("model", "model"), ("workflow", "workflow"), ("backend", "backend"), ("sampler", "sampler"),
    ("scheduler", "scheduler"), ("steps", "steps"), ("cfg", "cfg"), ("width", "width"), ("height", "height"),
    ("seed", "seed"), ("LoRA", "lora_name"), ("LoRA weight", "lora_strength"),
    ("speed LoRA", "speed_lora_name"), ("speed LoRA weight", "speed_lora_strength"),
    ("layout", "layout"), ("characters", "n_characters"), ("named", "named"), ("variant", "variant"),
    ("translated by", "translator_model"), ("prompt", "prompt_src"), ("prompt sent", "prompt_en"),
    ("negative", "negative"),
]
"""(label, result attribute) of the parameters a write-up lists as fixed when they do not vary."""


class AxisError(ValueError):
    """An axis name that does not exist; the message lists the ones that do."""


def get_axis(name: str) -> Axis:
    """The Axis called `name` (`weight`, or a family key such as `weight.NAME` when one exists)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    prefix, dot, rest = name.partition(".")
    if dot and prefix in AXIS_FAMILIES and rest:
        return AXIS_FAMILIES[prefix](rest)
    raise AxisError(f"unknown axis {name!r}; choose one of: {', '.join(AXES)}")


def check_axis(name: str) -> str:
    get_axis(name)
    return name


def axis_value(row: Any, axis: str) -> Any:
    return get_axis(axis).value(row)


def axis_label(axis: str, value: Any) -> str:
    """How a value of an axis is printed in headers and cells."""
    return get_axis(axis).label(value)


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
    ax = get_axis(axis)
    return sorted({ax.value(r) for r in rows}, key=sort_key)


def fixed_and_varied(rows: list[Any]) -> tuple[list[tuple[str, str]], list[tuple[str, int]]]:
    """The parameters every row shares (label, value) and those that vary (label, number of values)."""
    fixed: list[tuple[str, str]] = []
    varied: list[tuple[str, int]] = []
    for label, attr in RESULT_PARAMETERS:
        if attr == "lora_strength":
            values = {_weight(r) for r in rows}
        else:
            values = {getattr(r, attr, None) for r in rows}
        if len(values) == 1:
            v = next(iter(values))
            if v is not None and v != "":
                fixed.append((label, format_weight(v) if "weight" in label else default_label(v)))
        elif len(values) > 1:
            varied.append((label, len(values)))
    return fixed, varied
