"""Bleed rates with their uncertainty, and the operating line.

A result is *judged* when it has at least one annotation (of the chosen
feature, if one is chosen); it *bled* when one of those annotations has a bleed
outcome (migrated, duplicated, color_drift). Every rate carries the number of
judged images behind it and a 95% Wilson score interval, so that "1 of 1" reads
as "somewhere between 21% and 100%", not as a trend.

The operating line answers the question write-ups end with: for each
combination of layout x named x character count, the highest LoRA weight at
which the bleed rate stays under a threshold (`--max-bleed`, 0.1 by default).
Weights are walked upwards; the line is the last weight before the first one
whose rate reaches the threshold. It is only called when that weight has at
least `min_judged` judged images; otherwise the verdict is "not enough judged
images" and the candidate is shown with its interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from gentui.analysis.axes import axis_label, check_axis, get_axis, sort_key
from gentui.catalog.db import Catalog
from gentui.catalog.models import Annotation, Result

BLEED_OUTCOMES = ("migrated", "duplicated", "color_drift")
OUTCOMES = ("present", "missing", "migrated", "duplicated", "color_drift", "collapse", "artifact")
Z95 = 1.959963984540054
RATE_AXES = ("weight", "layout", "named", "variant", "chars", "lora")
"""The axes `gentui report --rates` breaks rates down by (those with more than one value)."""
LINE_AXES = ("layout", "named", "chars")


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0, 1) for n = 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Cell:
    """Counts of one group of results."""

    results: int = 0
    judged: int = 0
    bled: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """outcome -> number of results with at least one annotation of it."""

    @property
    def rate(self) -> float | None:
        return self.bled / self.judged if self.judged else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.bled, self.judged) if self.judged else None

    def add(self, other: Cell) -> None:
        self.results += other.results
        self.judged += other.judged
        self.bled += other.bled
        for k, v in other.outcomes.items():
            self.outcomes[k] += v

    def as_dict(self) -> dict[str, Any]:
        """Numbers for `--format json` (rate and interval are null when nothing was judged)."""
        ci = self.interval
        return {"results": self.results, "judged": self.judged, "bled": self.bled,
                "rate": None if self.rate is None else round(self.rate, 6),
                "ci_low": None if ci is None else round(ci[0], 6),
                "ci_high": None if ci is None else round(ci[1], 6),
                "outcomes": dict(sorted(self.outcomes.items()))}


def format_cell(cell: Cell) -> str:
    """`40% 2/5 judged of 8`: the rate, bled/judged, and the results in the cell when not all were judged."""
    if not cell.results:
        return ""
    if not cell.judged:
        return f"- 0 judged of {cell.results}"
    text = f"{cell.rate:.0%} {cell.bled}/{cell.judged} judged"
    if cell.judged < cell.results:
        text += f" of {cell.results}"
    return text


def format_interval(cell: Cell) -> str:
    ci = cell.interval
    return "" if ci is None else f"{ci[0]:.0%}-{ci[1]:.0%}"


def _chunks(ids: Sequence[int], n: int = 500) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), n):
        yield ids[i : i + n]


def judged_rows(catalog: Catalog, result_ids: Sequence[int], axes: Sequence[str],
                feature: str | None = None) -> Iterator[tuple[tuple, set[str]]]:
    """(values of `axes`, outcomes annotated) per result; an unjudged result has an empty set."""
    axis_objs = [get_axis(a) for a in axes]
    attrs = sorted({col for a in axis_objs for col in a.columns})
    cols_sel = [Result.id] + [getattr(Result, a) for a in attrs]
    with catalog.engine.connect() as conn:
        for chunk in _chunks(list(result_ids)):
            results = {r.id: r for r in conn.execute(select(*cols_sel).where(Result.id.in_(chunk)))}
            stmt = select(Annotation.result_id, Annotation.outcome).where(Annotation.result_id.in_(chunk))
            if feature:
                stmt = stmt.where(Annotation.feature == feature)
            per_result: dict[int, set[str]] = defaultdict(set)
            for a in conn.execute(stmt):
                per_result[a.result_id].add(a.outcome)
            for rid, r in results.items():
                yield tuple(ax.value(r) for ax in axis_objs), per_result.get(rid, set())


def count(catalog: Catalog, result_ids: Sequence[int], axes: Sequence[str], *, outcome: str | None = None,
          feature: str | None = None) -> tuple[dict[tuple, Cell], tuple[str, ...]]:
    """Cells keyed by the values of `axes`, and the outcomes that counted as bleed."""
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; choose one of: {', '.join(OUTCOMES)}")
    counted = (outcome,) if outcome else BLEED_OUTCOMES
    wanted = set(counted)
    cells: dict[tuple, Cell] = defaultdict(Cell)
    for key, seen in judged_rows(catalog, result_ids, axes, feature):
        cell = cells[key]
        cell.results += 1
        if not seen:
            continue
        cell.judged += 1
        if seen & wanted:
            cell.bled += 1
        for o in seen:
            cell.outcomes[o] += 1
    return dict(cells), counted


# ---------------------------------------------------------------- rates by one axis
@dataclass
class AxisRates:
    axis: str
    values: list[Any]
    cells: dict[Any, Cell]
    counted: tuple[str, ...]


def rates_by(catalog: Catalog, result_ids: Sequence[int], axes: Iterable[str] = RATE_AXES, *,
             outcome: str | None = None, feature: str | None = None, keep_single: bool = False) -> list[AxisRates]:
    """Bleed rates per value of each axis; axes with one value are left out unless `keep_single`."""
    out = []
    for axis in axes:
        check_axis(axis)
        raw, counted = count(catalog, result_ids, [axis], outcome=outcome, feature=feature)
        cells = {k[0]: c for k, c in raw.items()}
        if len(cells) < 2 and not keep_single:
            continue
        out.append(AxisRates(axis, sorted(cells, key=sort_key), cells, counted))
    return out


# ---------------------------------------------------------------- the operating line
@dataclass
class LineStep:
    weight: float
    cell: Cell


@dataclass
class OperatingLine:
    """One combination of layout x named x chars and where its bleed rate stays under the threshold."""

    group: dict[str, Any]
    steps: list[LineStep]
    max_bleed: float
    min_judged: int
    weight: float | None = None
    """The highest weight whose rate (and every lower weight's) stays under max_bleed."""
    cell: Cell | None = None
    """The counts at that weight."""
    first_over: LineStep | None = None
    """The first weight whose rate reaches max_bleed."""

    @property
    def enough(self) -> bool:
        return self.cell is not None and self.cell.judged >= self.min_judged

    def verdict(self) -> str:
        """`safe up to 0.8 (0/4 judged bled, 95% CI 0-49%)`, or why no line can be drawn."""
        over = ""
        if self.first_over is not None:
            c = self.first_over.cell
            over = f"{_w(self.first_over.weight)} ({c.bled}/{c.judged} judged bled, {c.rate:.0%})"
        if not any(s.cell.judged for s in self.steps):
            return "no judged images"
        if self.weight is None:
            return f"bleeds from the lowest judged weight, {over}"
        over = f"; bleeds at {over}" if over else ""
        assert self.cell is not None
        evidence = f"{self.cell.bled}/{self.cell.judged} judged bled, 95% CI {format_interval(self.cell)}"
        if not self.enough:
            return (f"not enough judged images: {_w(self.weight)} has {self.cell.judged} "
                    f"(need {self.min_judged}; {evidence}){over}")
        return f"under {self.max_bleed:.0%} up to weight {_w(self.weight)} ({evidence}){over}"

    def as_dict(self) -> dict[str, Any]:
        return {**self.group, "max_bleed": self.max_bleed, "min_judged": self.min_judged,
                "weight": self.weight, "enough": self.enough,
                "at_weight": None if self.cell is None else self.cell.as_dict(),
                "first_over": None if self.first_over is None else
                {"weight": self.first_over.weight, **self.first_over.cell.as_dict()},
                "weights": [{"weight": s.weight, **s.cell.as_dict()} for s in self.steps],
                "verdict": self.verdict()}


def _w(weight: float) -> str:
    return axis_label("weight", weight)


def operating_lines(catalog: Catalog, result_ids: Sequence[int], *, max_bleed: float = 0.1, min_judged: int = 3,
                    feature: str | None = None, group_by: Sequence[str] = LINE_AXES) -> list[OperatingLine]:
    """One OperatingLine per combination of `group_by` values (results without a LoRA weight are left out)."""
    if not 0 < max_bleed <= 1:
        raise ValueError(f"--max-bleed {max_bleed:g}: expected a share between 0 and 1 (0.1 is 10%)")
    if min_judged < 1:
        raise ValueError(f"--min-judged {min_judged}: expected 1 or more")
    cells, _ = count(catalog, result_ids, [*group_by, "weight"], feature=feature)
    groups: dict[tuple, list[LineStep]] = defaultdict(list)
    for key, cell in cells.items():
        if key[-1] is not None:
            groups[key[:-1]].append(LineStep(key[-1], cell))
    lines = []
    for gkey in sorted(groups, key=lambda k: tuple(sort_key(v) for v in k)):
        steps = sorted(groups[gkey], key=lambda s: s.weight)
        line = OperatingLine(dict(zip(group_by, gkey)), steps, max_bleed, min_judged)
        for s in steps:
            if not s.cell.judged:
                continue
            if (s.cell.rate or 0.0) >= max_bleed:
                line.first_over = s
                break
            line.weight, line.cell = s.weight, s.cell
        lines.append(line)
    return lines


def describe_group(group: dict[str, Any]) -> str:
    """`side_by_side, named, 2 characters`."""
    parts = []
    for k, v in group.items():
        if k == "named":
            parts.append("named" if v else ("unnamed" if v is False else "named ?"))
        elif k == "chars":
            parts.append(f"{v} characters" if v is not None else "? characters")
        else:
            parts.append(axis_label(k, v))
    return ", ".join(parts)
