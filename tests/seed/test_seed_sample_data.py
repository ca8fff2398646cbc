"""Loading and validating the packaged sample data (hotline.grid.sample)."""

import csv
import dataclasses
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from hotline.grid.sample import (
    CategoryRecord,
    SampleDataError,
    UnitRecord,
    load_categories,
    load_sample_grid,
    parse_categories,
    parse_units,
    render_sample_grid,
    validate_units,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


# --- categories ------------------------------------------------------------------


def test_categories_load_with_expected_counts():
    cats = load_categories()
    assert all(isinstance(c, CategoryRecord) for c in cats)
    counts = Counter((c.standard_ref, c.kind) for c in cats)
    assert counts == {
        ("GB/T 47678.5-2026", "component"): 153,
        ("GB/T 47678.5-2026", "matter"): 250,
        ("LOCAL:CF12319", "matter"): 24,
    }
    assert len({c.key for c in cats}) == len(cats)
    assert all(c.is_local_extension == c.standard_ref.startswith("LOCAL:") for c in cats)
    assert {c.source for c in cats} == {"gb47678_5_s1", "cf12319_local"}
    first = cats[0]
    assert (first.kind, first.code, first.big_class_code, first.big_class, first.name) == (
        "component", "01001", "01", "市政公用设施", "供水井盖"
    )


@pytest.mark.skipif(not (SHARED / "categories.csv").exists(), reason="shared/ not beside the checkout")
def test_categories_keep_every_fact_of_the_shared_file():
    with open(SHARED / "categories.csv", encoding="utf-8", newline="") as f:
        shared = [tuple(r.values()) for r in csv.DictReader(f)]
    ours = [(c.standard_ref, c.kind, c.code, c.big_class_code, c.big_class, c.name) for c in load_categories()]
    assert ours == shared


@pytest.mark.skipif(not (SHARED / "chifeng_grid.yaml").exists(), reason="shared/ not beside the checkout")
def test_grid_yaml_is_the_shared_file():
    from hotline.grid.sample import sample_source_text

    assert sample_source_text() == (SHARED / "chifeng_grid.yaml").read_text(encoding="utf-8")


HEADER = "standard_ref,kind,code,big_class_code,big_class,name,is_local_extension,source\n"
GOOD = "GB/T 47678.5-2026,component,01001,01,市政公用设施,供水井盖,false,gb47678_5_s1\n"


def test_parse_categories_accepts_a_good_row():
    (c,) = parse_categories(HEADER + GOOD)
    assert c.key == ("GB/T 47678.5-2026", "component", "01001") and c.is_local_extension is False


@pytest.mark.parametrize(
    "row,fragment",
    [
        ("GB/T 47678.5-2026,widget,01001,01,x,供水井盖,false,s\n", "kind 'widget'"),
        ("GB/T 47678.5-2026,component,1001,01,x,供水井盖,false,s\n", "must be 5 digits"),
        ("GB/T 47678.5-2026,component,02001,01,x,供水井盖,false,s\n", "does not start with big class"),
        ("GB/T 47678.5-2026,component,01002,01,x,供水井盖,true,s\n", "contradicts"),
        ("GB/T 47678.5-2026,component,01002,01,x,供水井盖,maybe,s\n", "must be true or false"),
        ("GB/T 47678.5-2026,component,01002,01,x,,false,s\n", "empty name"),
        ("GB/T 47678.5-2026,component,01001,01,x,供水井盖,false,s\n", "duplicate"),
        ("GB/T 47678.5-2026,component,01002,01\n", "wrong number of fields"),
    ],
)
def test_parse_categories_reports_bad_rows(row, fragment):
    with pytest.raises(SampleDataError) as exc:
        parse_categories(HEADER + GOOD + row)
    assert any(fragment in m and "line 3" in m for m in exc.value.messages), exc.value.messages


def test_parse_categories_reports_all_problems_and_missing_columns():
    with pytest.raises(SampleDataError) as exc:
        parse_categories(HEADER + "X,bad,1,01,x,y,no,s\n" + "X,bad,2,01,x,y,no,s\n")
    assert len(exc.value.messages) >= 4
    with pytest.raises(SampleDataError, match="missing column"):
        parse_categories("standard_ref,kind,code\nA,component,01001\n")


# --- grid --------------------------------------------------------------------------


def test_sample_grid_loads_and_validates():
    units = load_sample_grid()
    assert all(isinstance(u, UnitRecord) for u in units)
    assert Counter(u.level for u in units)[1] == 4
    assert Counter(u.level for u in units)[2] == 64
    assert Counter(u.level for u in units)[3] >= 3 * 64
    by_code = {u.code: u for u in units}
    assert by_code["150403004"].name == "平庄西城街道" and by_code["150403004"].type_label == "街道"
    xingan = [u for u in units if u.parent_code == "150404407"]
    assert xingan[0].name == "临潢家园社区" and xingan[0].verified and xingan[0].confidence == "medium"
    assert "code" in xingan[0].synthetic_fields


def _raw():
    return json.loads(render_sample_grid(Path(__file__).resolve().parents[2].joinpath(
        "hotline", "data", "chifeng_grid.yaml").read_text(encoding="utf-8")))


def _messages(raw):
    with pytest.raises(SampleDataError) as exc:
        parse_units(raw)
    return exc.value.messages


def test_duplicate_code_is_reported():
    raw = _raw()
    dup = dict(raw[-1])
    dup["name"] = "重复社区"
    raw.append(dup)
    msgs = _messages(raw)
    assert any("duplicate code " + dup["code"] in m for m in msgs)


def test_unknown_parent_is_reported():
    raw = _raw()
    target = next(u for u in raw if u["level"] == 3)
    target["parent_code"] = "150499001"
    target["code"] = "150499001001"
    msgs = _messages(raw)
    assert any("unknown parent 150499001" in m for m in msgs)


def test_bad_code_length_is_reported():
    raw = _raw()
    target = next(u for u in raw if u["level"] == 2)
    target["code"] = target["code"] + "0"
    msgs = _messages(raw)
    assert any("code must be 9 digits for level 2" in m for m in msgs)


def test_overlap_is_reported():
    raw = _raw()
    streets = [u for u in raw if u["level"] == 2]
    a, b = streets[0], streets[1]
    b["geometry"] = a["geometry"]
    msgs = _messages(raw)
    assert any(f"level 2: {a['code']}" in m and "overlaps" in m and b["code"] in m for m in msgs)


def test_child_outside_parent_is_reported():
    raw = _raw()
    comm = next(u for u in raw if u["level"] == 3)
    ring = comm["geometry"]["coordinates"][0]
    comm["geometry"] = {"type": "Polygon", "coordinates": [[[x + 5, y] for x, y in ring]]}
    msgs = _messages(raw)
    assert any("not inside parent" in m and comm["code"] in m for m in msgs)


def test_field_problems_are_reported_together():
    raw = _raw()
    del raw[0]["name"]
    raw[1]["level"] = "1"
    raw[2]["verified"] = "yes"
    raw.append("not a unit")
    msgs = _messages(raw)
    assert len(msgs) == 4
    assert any("missing field 'name'" in m for m in msgs)


def test_validate_units_accepts_a_minimal_consistent_grid():
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    half = {"type": "Polygon", "coordinates": [[[0, 0], [0.5, 0], [0.5, 1], [0, 1], [0, 0]]]}
    d = UnitRecord("150402", "红山区", 1, None, "district", 0.5, 0.5, square, False, True, "t")
    s = UnitRecord("150402001", "西屯街道", 2, "150402", "street", 0.2, 0.5, half, False, True, "t")
    validate_units([d, s])
    with pytest.raises(SampleDataError, match="kind 'village' not allowed at level 2"):
        validate_units([d, dataclasses.replace(s, kind="village")])
    with pytest.raises(SampleDataError, match="does not start with parent code"):
        validate_units([d, dataclasses.replace(s, code="150403001")])


def test_render_rejects_bad_yaml_document():
    with pytest.raises(SampleDataError):
        render_sample_grid("- just\n- a list\n")
    with pytest.raises(SampleDataError, match="no districts"):
        render_sample_grid("city: {centre: {lon: 118.9, lat: 42.2}}\ndistricts: []\n")
