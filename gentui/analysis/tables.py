"""A table as headers and text cells, rendered as Markdown, CSV or JSON.

Every exported table (`gentui report`, `gentui export table|matrix`) is one of
these. `records`, when given, is what JSON prints instead of the text cells:
one object per row with numbers as numbers (rates as shares, counts as ints).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    records: list[dict[str, Any]] | None = field(default=None)


def md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def render_markdown(table: Table) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in table.headers) + " |",
             "|" + "|".join("---" for _ in table.headers) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def render_csv(table: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.headers)
    w.writerows(table.rows)
    return buf.getvalue()


def render_json(table: Table) -> str:
    """One JSON object per line: the records if the table has them, else header -> cell text."""
    records = table.records if table.records is not None else [dict(zip(table.headers, r)) for r in table.rows]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


RENDERERS = {"md": render_markdown, "csv": render_csv, "json": render_json}
