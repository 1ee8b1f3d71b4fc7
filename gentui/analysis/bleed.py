"""The bleed matrix: how often features bled, per two axes (weight x layout by default).

A result counts as *judged* in a cell when it has at least one annotation (of
the chosen feature, if one is chosen). It counts as *bled* when one of those
annotations has a bleed outcome (migrated, duplicated, color_drift by default,
or only the chosen outcome). The rate is bled / judged; unjudged results are
counted separately so a high rate over two images is not mistaken for a trend.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from gentui.analysis.axes import AXES, axis_label, axis_value, check_axis, sort_key
from gentui.analysis.report import Table
from gentui.catalog.db import Catalog
from gentui.catalog.models import Annotation, Result

BLEED_OUTCOMES = ("migrated", "duplicated", "color_drift")
OUTCOMES = ("present", "missing", "migrated", "duplicated", "color_drift", "collapse", "artifact")


@dataclass
class Cell:
    results: int = 0
    judged: int = 0
    bled: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """outcome -> number of results with at least one annotation of it."""

    @property
    def rate(self) -> float | None:
        return self.bled / self.judged if self.judged else None


@dataclass
class BleedMatrix:
    rows_axis: str
    cols_axis: str
    row_values: list[Any]
    col_values: list[Any]
    cells: dict[tuple[Any, Any], Cell]
    counted: tuple[str, ...]
    feature: str | None

    def cell(self, rv: Any, cv: Any) -> Cell:
        return self.cells.get((rv, cv), Cell())


def _chunks(ids: Sequence[int], n: int = 500) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), n):
        yield ids[i : i + n]


def bleed_matrix(catalog: Catalog, result_ids: Sequence[int], *, rows: str = "weight", cols: str = "layout",
                 outcome: str | None = None, feature: str | None = None) -> BleedMatrix:
    """Count judged and bled results of `result_ids` per (rows, cols) value."""
    rows, cols = check_axis(rows), check_axis(cols)
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; choose one of: {', '.join(OUTCOMES)}")
    counted = (outcome,) if outcome else BLEED_OUTCOMES
    attrs = sorted({AXES[rows], AXES[cols], "use_lora"})
    cols_sel = [Result.id] + [getattr(Result, a) for a in attrs]
    cells: dict[tuple, Cell] = defaultdict(Cell)
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
                key = (axis_value(r, rows), axis_value(r, cols))
                cell = cells[key]
                cell.results += 1
                seen = per_result.get(rid)
                if not seen:
                    continue
                cell.judged += 1
                if seen & set(counted):
                    cell.bled += 1
                for o in seen:
                    cell.outcomes[o] += 1
    row_values = sorted({k[0] for k in cells}, key=sort_key)
    col_values = sorted({k[1] for k in cells}, key=sort_key)
    return BleedMatrix(rows, cols, row_values, col_values, dict(cells), counted, feature)


def format_cell(cell: Cell) -> str:
    """`40% (2/5)`; `- (0/3)` when nothing in the cell was judged."""
    if not cell.judged:
        return f"- (0/{cell.results})" if cell.results else ""
    return f"{cell.rate:.0%} ({cell.bled}/{cell.judged})"


def matrix_table(m: BleedMatrix) -> Table:
    headers = [f"{m.rows_axis} \\ {m.cols_axis}"] + [axis_label(m.cols_axis, v) for v in m.col_values] + ["all"]
    rows = []
    for rv in m.row_values:
        total = Cell()
        line = [axis_label(m.rows_axis, rv)]
        for cv in m.col_values:
            c = m.cell(rv, cv)
            line.append(format_cell(c))
            total.results += c.results
            total.judged += c.judged
            total.bled += c.bled
        line.append(format_cell(total))
        rows.append(line)
    return Table(headers, rows)
