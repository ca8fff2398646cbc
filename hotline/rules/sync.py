"""Copy what the routing rules define into the database: departments and the districts'
local receiving lines. Idempotent; runs at start-up and after a rules reload."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.departments.models import Department
from hotline.grid.models import GridUnit
from hotline.rules.schema import Rules


@dataclass
class SyncReport:
    departments_created: int = 0
    departments_updated: int = 0
    lines_updated: int = 0
    missing_districts: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = (f"部门: 新增 {self.departments_created}, 更新 {self.departments_updated}; "
                f"区县受理专线更新 {self.lines_updated}")
        if self.missing_districts:
            text += f"; 网格中缺少区县 {', '.join(self.missing_districts)}"
        return text


def sync_rules(session: Session, rules: Rules) -> SyncReport:
    report = SyncReport()
    by_code = {d.code: d for d in session.scalars(select(Department))}
    for dep in rules.departments:
        row = by_code.get(dep.code)
        values = dict(name=dep.name, level=dep.level, district_code=dep.district,
                      contact_line=dep.line, sms_number=dep.sms, active=True)
        if row is None:
            row = Department(code=dep.code, **values)
            session.add(row)
            by_code[dep.code] = row
            report.departments_created += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            report.departments_updated += 1
    session.flush()
    for dep in rules.departments:  # parents after every row exists
        parent_id = by_code[dep.parent].id if dep.parent else None
        if by_code[dep.code].parent_id != parent_id:
            by_code[dep.code].parent_id = parent_id
    missing = []
    for district in rules.districts:
        unit = session.scalar(select(GridUnit).where(GridUnit.code == district.code))
        if unit is None:
            missing.append(district.code)
        elif unit.local_line != district.line:
            unit.local_line = district.line
            report.lines_updated += 1
    report.missing_districts = tuple(missing)
    session.flush()
    return report
