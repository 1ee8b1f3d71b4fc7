"""The doctor's report: one `Check` per line, and its severities (a leaf module)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, INFO, WARN, ERROR = "ok", "info", "warn", "error"


@dataclass
class Check:
    """One line of the doctor's report."""

    area: str
    """backend, ollama, catalog, output or terminal."""
    item: str
    """What was checked: a backend name, `models anima`, `free space` ..."""
    status: str
    """ok, info, warn or error."""
    summary: str
    fix: str = ""
    """One line: what to do about it (empty when nothing needs doing)."""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    checks: list[Check]

    @property
    def exit_status(self) -> int:
        return 1 if any(c.status == ERROR for c in self.checks) else 0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.exit_status == 0, "checks": [c.to_dict() for c in self.checks]}
