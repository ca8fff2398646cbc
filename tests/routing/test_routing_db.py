"""The grid and categories as stored in the database (SQLite and PostgreSQL) drive routing."""

from __future__ import annotations

from sqlalchemy import select

from hotline.categories.models import Category
from hotline.grid.lookup import GridIndex, load_units
from hotline.grid.models import GridUnit
from hotline.routing import Router
from hotline.seed import seed_sample


def test_index_over_stored_grid_and_rebuild_after_a_change(db_factory, sample_units, shipped_rules):
    with db_factory() as session:
        seed_sample(session)
    index = GridIndex.from_database(db_factory)
    assert len(index) == len(sample_units)
    with db_factory() as session:
        stored = {u.code: u for u in load_units(session)}
    assert stored["150402001001"].parent_code == "150402001" and stored["150402"].parent_code is None
    assert index.locate_point(118.955556, 42.269585).codes == ("150402", "150402001", "150402001001")

    with db_factory() as session, session.begin():
        row = session.scalar(select(GridUnit).where(GridUnit.code == "150402001001"))
        row.name = "新和平社区"
    assert index.unit("150402001001").unit.name == "和平社区"          # until rebuilt
    index.rebuild()
    assert index.version == 2
    assert index.locate_point(118.955556, 42.269585).unit.name == "新和平社区"
    assert index.locate_address("新和平社区").placement.unit.code == "150402001001"


def test_router_accepts_stored_categories_with_their_default_owner(db_factory, shipped_rules):
    with db_factory() as session:
        seed_sample(session)
        with session.begin():
            for row in session.scalars(select(Category).where(Category.code == "01001")):
                row.default_department = "util-water"
    index = GridIndex.from_database(db_factory)
    with db_factory() as session:
        no_rules = shipped_rules.model_copy(update={"routing": shipped_rules.routing.model_copy(update={"rules": ()})})
        router = Router(no_rules, index, session.scalars(select(Category)))   # copied on construction
    d = router.route("01001", kind="component", lon=118.955556, lat=42.269585)
    assert d.category_name == "供水井盖" and d.rule_id is None
    assert (d.department.code, d.lead, d.co_unit.name) == ("util-water", "owner", "西屯街道")
    other = router.route("01002", kind="component", lon=118.955556, lat=42.269585)    # no owner registered
    assert other.lead == "territory" and "ownership_unknown" in other.fallbacks
