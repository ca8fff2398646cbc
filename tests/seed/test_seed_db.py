"""seed_sample on SQLite and PostgreSQL (db_session fixture from tests/conftest.py)."""

import dataclasses
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hotline.categories.models import Category
from hotline.grid.models import GridUnit
from hotline.grid.sample import SampleDataError, load_categories, load_sample_grid
from hotline.seed import SeedReport, seed_sample, unit_source_text

pytestmark = pytest.mark.db


def _count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def _unit(session, code):
    return session.scalars(select(GridUnit).where(GridUnit.code == code)).one()


def test_first_run_loads_everything_with_hierarchy(db_session):
    cats, units = load_categories(), load_sample_grid()
    report = seed_sample(db_session)
    assert report == SeedReport(categories_created=len(cats), units_created=len(units))
    assert _count(db_session, Category) == len(cats)
    assert _count(db_session, GridUnit) == len(units)
    db_session.expire_all()
    comm = _unit(db_session, units[-1].code)
    assert comm.parent.code == units[-1].parent_code and comm.parent.parent.level == 1
    xingan = _unit(db_session, "150404407")
    assert xingan.name == "兴安街道" and xingan.kind == "street" and xingan.verified and not xingan.synthetic
    assert [c.name for c in sorted(xingan.children, key=lambda c: c.code)][0] == "临潢家园社区"
    hongshan = _unit(db_session, "150402")
    assert hongshan.polygon == dict(next(u for u in units if u.code == "150402").geometry)
    assert hongshan.source.startswith("nbs_streets: ") and hongshan.source.endswith("[generated: geometry]")
    assert _count(db_session, Category) == 427
    assert db_session.scalars(select(Category).where(Category.code == "90006")).one().is_local_extension is True


def test_second_run_changes_nothing(db_session):
    first = seed_sample(db_session)
    second = seed_sample(db_session)
    assert second.changes == 0
    assert second.categories == first.categories and second.units == first.units
    assert str(second) == f"已存在: {first.categories} 个分类, {first.units} 个网格单元, 0 个变更"
    assert "0 updated" in second.summary_en() and "0 change(s)" in second.summary_en()
    assert _count(db_session, Category) == first.categories
    assert _count(db_session, GridUnit) == first.units


def test_changed_data_updates_rows_instead_of_duplicating(db_session):
    cats, units = load_categories(), load_sample_grid()
    seed_sample(db_session, categories=cats, units=units)
    cats2 = [dataclasses.replace(c, name=c.name + "（修订）") if c.code == "90001" else c for c in cats]
    target = next(u for u in units if u.level == 3 and u.synthetic and not u.verified)
    units2 = [dataclasses.replace(u, name="新名社区") if u.code == target.code else u for u in units]
    report = seed_sample(db_session, categories=cats2, units=units2)
    assert (report.categories_updated, report.units_updated, report.categories_created, report.units_created) == (1, 1, 0, 0)
    assert report.changes == 2 and "共 2 个变更" in report.summary_zh()
    assert _count(db_session, Category) == len(cats) and _count(db_session, GridUnit) == len(units)
    db_session.expire_all()
    assert db_session.scalars(select(Category).where(Category.code == "90001")).one().name == "停水（修订）"
    assert _unit(db_session, target.code).name == "新名社区"


def test_operator_columns_survive_reseeding(db_session):
    seed_sample(db_session)
    with db_session.begin():
        _unit(db_session, "150402").local_line = "0476-8888888"
        db_session.scalars(select(Category).where(Category.code == "90006")).one().default_department = "GAS"
    assert seed_sample(db_session).changes == 0
    db_session.expire_all()
    assert _unit(db_session, "150402").local_line == "0476-8888888"
    assert db_session.scalars(select(Category).where(Category.code == "90006")).one().default_department == "GAS"


def test_database_failure_writes_nothing(db_session):
    cats, units = load_categories(), load_sample_grid()
    seed_sample(db_session, categories=cats, units=units)
    renamed = [dataclasses.replace(c, name="改名") for c in cats[:5]]
    broken = dataclasses.replace(cats[-1], code="99999", kind="widget")  # violates the kind CHECK constraint
    with pytest.raises(IntegrityError):
        seed_sample(db_session, categories=renamed + cats[5:] + [broken], units=units)
    db_session.rollback()
    assert _count(db_session, Category) == len(cats)
    names = set(db_session.scalars(select(Category.name).where(Category.code.in_([c.code for c in cats[:5]]))))
    assert "改名" not in names


def test_failure_on_a_fresh_database_leaves_it_empty(db_session):
    cats = load_categories()
    broken = dataclasses.replace(cats[0], code="99999", kind="widget")
    with pytest.raises(IntegrityError):
        seed_sample(db_session, categories=cats + [broken])
    db_session.rollback()
    assert _count(db_session, Category) == 0 and _count(db_session, GridUnit) == 0


def test_invalid_data_is_rejected_before_any_write(db_session):
    units = load_sample_grid()
    a, b = [u for u in units if u.level == 2][:2]
    bad = [dataclasses.replace(u, geometry=a.geometry) if u.code == b.code else u for u in units]
    with pytest.raises(SampleDataError, match="overlaps"):
        seed_sample(db_session, units=bad)
    cats = load_categories()
    with pytest.raises(SampleDataError, match="duplicate category"):
        seed_sample(db_session, categories=cats + [cats[0]])
    assert _count(db_session, Category) == 0 and _count(db_session, GridUnit) == 0


def test_inside_an_open_transaction_the_caller_decides(db_session, db_factory):
    db_session.begin()
    seed_sample(db_session)
    assert db_session.in_transaction()  # seed used a SAVEPOINT and did not commit
    db_session.rollback()
    assert _count(db_session, GridUnit) == 0 and _count(db_session, Category) == 0
    db_session.rollback()
    db_session.begin()
    report = seed_sample(db_session)
    db_session.commit()
    with db_factory() as other:
        assert _count(other, GridUnit) == report.units


def test_seeding_inside_the_callers_transaction_commits_with_it(db_factory):
    # The pattern the CLI and bootstrap use: `with factory() as s, s.begin(): seed_sample(s)`.
    with db_factory() as session, session.begin():
        report = seed_sample(session)
    assert report.units_created == report.units > 0
    with db_factory() as session:
        assert _count(session, GridUnit) == report.units
        assert _count(session, Category) == report.categories


def test_report_summary_lists_each_count():
    report = SeedReport(categories_created=3, units_updated=2, units_unchanged=5)
    assert str(report) == "分类: 新增 3, 更新 0, 未变 0; 网格单元: 新增 0, 更新 2, 未变 5; 共 5 个变更"
    assert report.summary_en() == (
        "categories: 3 created, 0 updated, 0 unchanged; grid units: 0 created, 2 updated, 5 unchanged; 5 change(s)"
    )


def test_source_text_lists_generated_fields():
    unit = next(u for u in load_sample_grid() if u.level == 3 and not u.verified)
    assert unit_source_text(unit) == (
        "synthetic: generated by hotline.grid.synthetic (sample data, not a real unit) "
        "[generated: name, code, geometry, center]"
    )


def test_concurrent_seeders_do_not_collide(db_factory):
    reports, errors = [], []
    start = threading.Barrier(2)

    def run():
        try:
            start.wait()
            with db_factory() as session:
                reports.append(seed_sample(session))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(r.changes for r in reports)[0] == 0
    assert sorted(r.units_created for r in reports) == [0, len(load_sample_grid())]
    with db_factory() as session:
        assert _count(session, GridUnit) == len(load_sample_grid())
        assert _count(session, Category) == len(load_categories())
