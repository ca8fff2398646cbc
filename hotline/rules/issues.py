"""Problems found in a rules file, each pointing at a line, a column and a field path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

Path = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """``("routing", "rules", 3, "match")`` → ``routing.rules[3].match``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True, slots=True)
class RuleIssue:
    file: str
    line: int          # 1-based; 0 when unknown
    column: int        # 1-based; 0 when unknown
    path: str          # field path, e.g. "routing.rules[3].match.category[0]"; "" for the whole file
    message: str

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def __str__(self) -> str:
        return self.format()


class RulesError(Exception):
    """A rules file that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[RuleIssue]):
        self.issues = list(issues)
        lines = "\n".join(i.format() for i in self.issues)
        super().__init__(f"{len(self.issues)} problem(s) in routing rules:\n{lines}")
