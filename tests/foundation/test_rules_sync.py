"""Departments and district lines flow from routing_rules.yaml into the database."""

from __future__ import annotations

from sqlalchemy import select

from hotline.config import PROJECT_ROOT
from hotline.departments.models import Department
from hotline.grid.models import GridUnit
from hotline.rules import load_rules
from hotline.rules.sync import sync_rules
from hotline.seed import seed_sample


def test_sync_is_idempotent_and_fills_district_lines(db_factory):
    rules = load_rules(PROJECT_ROOT / "routing_rules.yaml")
    with db_factory() as s, s.begin():
        seed_sample(s)
        first = sync_rules(s, rules)
    assert first.departments_created == len(rules.departments) and not first.missing_districts
    with db_factory() as s, s.begin():
        again = sync_rules(s, rules)
        assert (again.departments_created, again.departments_updated, again.lines_updated) == (0, 0, 0)
        hs = s.scalar(select(GridUnit).where(GridUnit.code == "150402"))
        assert hs.local_line == "0476-8312319"
        child = s.scalar(select(Department).where(Department.code == "city-streetlight"))
        parent = s.get(Department, child.parent_id)
        assert parent.code == "city-municipal"
    # an operator edits a line → one update, nothing duplicated
    changed = rules.model_copy(update={"districts": tuple(
        d.model_copy(update={"line": "0476-8300000"}) if d.code == "150402" else d for d in rules.districts)})
    with db_factory() as s, s.begin():
        rep = sync_rules(s, changed)
        assert rep.lines_updated == 1
        assert s.scalar(select(GridUnit.local_line).where(GridUnit.code == "150402")) == "0476-8300000"


def test_sync_reports_districts_missing_from_the_grid(db_factory):
    rules = load_rules(PROJECT_ROOT / "routing_rules.yaml")
    with db_factory() as s, s.begin():
        rep = sync_rules(s, rules)  # no grid loaded
    assert set(rep.missing_districts) == {"150402", "150403", "150404", "150428"}
    assert "网格中缺少区县" in str(rep)
