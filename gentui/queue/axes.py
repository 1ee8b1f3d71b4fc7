"""Sweep axes: the values one parameter takes across a sweep.

Weights are exact: `0.4:1.2:0.2` is computed in decimals, never by adding
floats, so it yields 0.4 0.6 0.8 1.0 1.2 and nothing like 0.6000000000000001.
Seeds default to one fixed seed for the whole grid; `random` picks one and the
sweep records it so re-queueing reuses it.
"""

from __future__ import annotations

import math
import random as _random
from decimal import Decimal, InvalidOperation
from typing import Any

from gentui.catalog.sidecar import normalize_weight

MAX_AXIS_VALUES = 10_000
MAX_SEED = 2**64 - 1


class AxisError(ValueError):
    """An axis value that cannot be used; the message says what was expected."""


def _decimal(text: str, what: str) -> Decimal:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise AxisError(f"{what}: {text.strip()!r} is not a number") from None
    if not d.is_finite():
        raise AxisError(f"{what}: {text.strip()!r} is not a finite number")
    return d


def parse_range(text: str, what: str = "weights") -> list[float]:
    """`start:stop:step` (stop included when it lands on the grid) -> exact values."""
    parts = text.split(":")
    if len(parts) != 3:
        raise AxisError(f"{what}: {text!r}: expected start:stop:step, e.g. 0.4:1.2:0.2")
    start, stop, step = (_decimal(p, what) for p in parts)
    if step == 0:
        raise AxisError(f"{what}: {text!r}: the step must not be 0")
    if (stop - start) * step < 0:
        raise AxisError(f"{what}: {text!r}: the step {step} never reaches {stop} from {start}")
    count = int((stop - start) / step) + 1
    if count > MAX_AXIS_VALUES:
        raise AxisError(f"{what}: {text!r} gives {count} values; at most {MAX_AXIS_VALUES}")
    return [normalize_weight(float(start + step * i)) for i in range(count)]  # type: ignore[misc]


def parse_weights(value: Any, what: str = "weights") -> list[float | None]:
    """Weights as a list, a range string, a comma list string, or one number.

    `none` (or `off`) in the list means "without the LoRA" for that cell.
    """
    if isinstance(value, bool):
        raise AxisError(f"{what}: {value!r}: expected a number, a list of numbers or start:stop:step")
    if isinstance(value, (int, float)):
        return [_one_weight(value, what)]
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise AxisError(f"{what}: empty; expected e.g. 0.4:1.2:0.2 or 0.6,0.8")
        if ":" in text and "," not in text:
            return parse_range(text, what)
        out: list[float | None] = []
        for part in text.split(","):
            part = part.strip()
            if ":" in part:
                out.extend(parse_range(part, what))
            elif part:
                out.append(_one_weight(part, what))
        return _dedupe(out)
    if isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            if isinstance(v, str) and ":" in v:
                out.extend(parse_range(v, f"{what}[{i}]"))
            else:
                out.append(_one_weight(v, f"{what}[{i}]"))
        if not out:
            raise AxisError(f"{what}: empty list; give at least one weight")
        return _dedupe(out)
    raise AxisError(f"{what}: {value!r}: expected a number, a list of numbers or start:stop:step")


def _one_weight(v: Any, what: str) -> float | None:
    if isinstance(v, str) and v.strip().lower() in ("none", "off", "no"):
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise AxisError(f"{what}: {v!r}: expected a number")
    d = _decimal(str(v), what)
    w = normalize_weight(float(d))
    if w is None:
        raise AxisError(f"{what}: {v!r}: expected a finite number")
    return w


def _dedupe(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def parse_seeds(value: Any, what: str = "seeds", rng: _random.Random | None = None) -> list[int]:
    """Seeds: an integer, a list, a comma string, `random` or `random:N`."""
    rng = rng or _random.SystemRandom()
    if isinstance(value, bool):
        raise AxisError(f"{what}: {value!r}: expected a seed (integer), a list of seeds, or random")
    if isinstance(value, int):
        return [_one_seed(value, what)]
    if isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("random"):
            n = 1
            if ":" in text:
                try:
                    n = int(text.split(":", 1)[1])
                except ValueError:
                    raise AxisError(f"{what}: {value!r}: expected random or random:N") from None
                if not 1 <= n <= MAX_AXIS_VALUES:
                    raise AxisError(f"{what}: {value!r}: N must be between 1 and {MAX_AXIS_VALUES}")
            return [rng.randrange(0, 2**32) for _ in range(n)]
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise AxisError(f"{what}: empty; expected e.g. 1293127692 or 1,2,3 or random")
        return _dedupe([_one_seed(p, what) for p in parts])
    if isinstance(value, list):
        if not value:
            raise AxisError(f"{what}: empty list; give at least one seed")
        out: list[int] = []
        for i, v in enumerate(value):
            if isinstance(v, str) and v.strip().lower().startswith("random"):
                out.extend(parse_seeds(v, f"{what}[{i}]", rng))
            else:
                out.append(_one_seed(v, f"{what}[{i}]"))
        return _dedupe(out)
    raise AxisError(f"{what}: {value!r}: expected a seed (integer), a list of seeds, or random")


def _one_seed(v: Any, what: str) -> int:
    if isinstance(v, bool):
        raise AxisError(f"{what}: {v!r}: expected an integer seed")
    if isinstance(v, str):
        try:
            v = int(v.strip())
        except ValueError:
            raise AxisError(f"{what}: {v!r}: expected an integer seed") from None
    if not isinstance(v, int):
        raise AxisError(f"{what}: {v!r}: expected an integer seed")
    if not 0 <= v <= MAX_SEED:
        raise AxisError(f"{what}: {v}: a seed must be between 0 and {MAX_SEED}")
    return v


def parse_names(value: Any, what: str) -> list[str]:
    """A list of names (variants, layouts, workflows, backends): list or comma string."""
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",")]
    elif isinstance(value, list):
        items = []
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise AxisError(f"{what}[{i}]: {v!r}: expected a string")
            items.append(v.strip())
    else:
        raise AxisError(f"{what}: {value!r}: expected a list of strings, e.g. [\"named\", \"unnamed\"]")
    items = [i for i in items if i]
    if not items:
        raise AxisError(f"{what}: empty; give at least one value")
    return _dedupe(items)


def parse_values(value: Any, what: str) -> list[Any]:
    """Any other parameter as an axis: a list of scalars (or a comma string)."""
    if isinstance(value, list):
        if not value:
            raise AxisError(f"{what}: empty list; give at least one value")
        for i, v in enumerate(value):
            if not isinstance(v, (str, int, float, bool)):
                raise AxisError(f"{what}[{i}]: {v!r}: expected a number, a string or true/false")
        return _dedupe([normalize_weight(v) if isinstance(v, float) else v for v in value])
    if isinstance(value, str):
        return _dedupe([coerce_scalar(p.strip()) for p in value.split(",") if p.strip()])
    if isinstance(value, (int, float, bool)):
        return [value]
    raise AxisError(f"{what}: {value!r}: expected a list of values, e.g. [8, 12]")


def coerce_scalar(text: str) -> Any:
    """`--set` and comma-string values: ints, floats and true/false as such, else text."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        f = float(text)
    except ValueError:
        return text
    return normalize_weight(f) if math.isfinite(f) else text
