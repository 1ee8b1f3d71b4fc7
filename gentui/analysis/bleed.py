"""The bleed matrix: how often features bled, per two axes (weight x layout by default).

The counting (judged, bled, the Wilson interval) lives in `gentui.analysis.rates`;
this module lays the counts out as a matrix with an `all` column, for the bleed
matrix screen and `gentui export matrix`. A cell reads `40% 2/5 judged of 8`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gentui.analysis.axes import axis_label, check_axis, sort_key
from gentui.analysis.rates import BLEED_OUTCOMES, OUTCOMES, Cell, count, format_cell, format_interval
from gentui.analysis.tables import Table
from gentui.catalog.db import Catalog

__all__ = ["BLEED_OUTCOMES", "OUTCOMES", "BleedMatrix", "Cell", "bleed_matrix", "format_cell", "matrix_table",
           "matrix_records"]


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

    def row_total(self, rv: Any) -> Cell:
        total = Cell()
        for cv in self.col_values:
            total.add(self.cell(rv, cv))
        return total


def bleed_matrix(catalog: Catalog, result_ids: Sequence[int], *, rows: str = "weight", cols: str = "layout",
                 outcome: str | None = None, feature: str | None = None) -> BleedMatrix:
    """Count judged and bled results of `result_ids` per (rows, cols) value."""
    rows, cols = check_axis(rows), check_axis(cols)
    cells, counted = count(catalog, result_ids, [rows, cols], outcome=outcome, feature=feature)
    row_values = sorted({k[0] for k in cells}, key=sort_key)
    col_values = sorted({k[1] for k in cells}, key=sort_key)
    return BleedMatrix(rows, cols, row_values, col_values, cells, counted, feature)


def matrix_table(m: BleedMatrix) -> Table:
    """The matrix as text cells; the `all` column adds the row's 95% interval."""
    headers = [f"{m.rows_axis} \\ {m.cols_axis}"] + [axis_label(m.cols_axis, v) for v in m.col_values]
    headers += ["all", "95% CI"]
    rows = []
    for rv in m.row_values:
        total = m.row_total(rv)
        line = [axis_label(m.rows_axis, rv)] + [format_cell(m.cell(rv, cv)) for cv in m.col_values]
        rows.append(line + [format_cell(total), format_interval(total)])
    records = matrix_records(m)
    return Table(headers, rows, records=records)


def matrix_records(m: BleedMatrix) -> list[dict[str, Any]]:
    """One JSON object per non-empty cell, with numbers (rate and interval as shares)."""
    out = []
    for rv in m.row_values:
        for cv in m.col_values:
            c = m.cell(rv, cv)
            if c.results:
                out.append({m.rows_axis: rv, m.cols_axis: cv, "counted": list(m.counted), **c.as_dict()})
    return out
