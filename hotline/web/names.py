"""Names, never codes (console convention): district, street, community and department codes as
the console shows them, from the grid table and the departments (the rules' list first).

Built once at start (and again when the rules are reloaded); an unknown code is shown as is,
so nothing disappears from a page because a name is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.departments.models import Department
from hotline.grid.models import GridUnit

__all__ = ["NameBook"]


@dataclass
class NameBook:
    units: dict[str, str] = field(default_factory=dict)        # grid unit code → name
    unit_levels: dict[str, int] = field(default_factory=dict)  # grid unit code → 1 district … 4 grid
    departments: dict[str, str] = field(default_factory=dict)  # department code → name

    @classmethod
    def build(cls, session: Session, rules=None) -> "NameBook":
        book = cls()
        for code, name, level in session.execute(select(GridUnit.code, GridUnit.name, GridUnit.level)):
            book.units[code] = name
            book.unit_levels[code] = level
        for code, name in session.execute(select(Department.code, Department.name)):
            book.departments[code] = name
        if rules is not None:
            for d in rules.districts:
                book.units[d.code] = d.name
                book.unit_levels.setdefault(d.code, 1)
            for dep in rules.departments:
                book.departments[dep.code] = dep.name
        return book

    def unit(self, code: str | None) -> str:
        if not code:
            return ""
        return self.units.get(code, code)

    def department(self, code: str | None) -> str:
        if not code:
            return ""
        return self.departments.get(code, code)

    def responsible(self, district_code: str | None, department_code: str | None) -> str:
        """The unit a ticket is with: the department if there is one, else the district."""
        if department_code:
            return self.department(department_code)
        return self.unit(district_code) or "未指定"

    def search(self, text: str, *, levels: tuple[int, ...] = (2, 3), limit: int = 12) -> list[tuple[str, str, int]]:
        """Units of ``levels`` named in ``text`` (a full address) or whose name contains it (what is
        typed so far), longest names first: ``(code, name, level)``."""
        hits = [(code, name, self.unit_levels.get(code, 0)) for code, name in self.units.items()
                if self.unit_levels.get(code) in levels and (name in text or text in name)]
        hits.sort(key=lambda h: (-len(h[1]), h[2], h[0]))
        return hits[:limit]

    def districts(self) -> list[tuple[str, str]]:
        return sorted((c, n) for c, n in self.units.items() if self.unit_levels.get(c) == 1)

    def streets_of(self, district_code: str) -> list[tuple[str, str]]:
        return sorted((c, n) for c, n in self.units.items()
                      if self.unit_levels.get(c) == 2 and c.startswith(district_code))
