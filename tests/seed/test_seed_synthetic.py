"""Synthetic geometry and communities of the sample grid (hotline.grid.synthetic)."""

import copy
import itertools
import re
from importlib import resources

import pytest
import yaml
from shapely.geometry import Point, shape

from hotline.grid import synthetic
from hotline.grid.sample import render_sample_grid, sample_source_text
from hotline.grid.synthetic import build_sample_grid, grow_regions, level2_kind, split_rect


@pytest.fixture(scope="module")
def doc():
    return yaml.safe_load(sample_source_text())


@pytest.fixture(scope="module")
def units(doc):
    return build_sample_grid(doc)


def test_committed_file_is_exactly_what_the_generator_builds():
    committed = resources.files("hotline").joinpath("data").joinpath("grid_sample.json").read_text(encoding="utf-8")
    assert render_sample_grid(sample_source_text()) == committed


def test_build_is_repeatable(doc):
    assert build_sample_grid(copy.deepcopy(doc)) == build_sample_grid(copy.deepcopy(doc))


def test_every_real_unit_is_present_with_its_flags(doc, units):
    by_code = {u["code"]: u for u in units}
    for d in doc["districts"]:
        assert by_code[d["code"]]["name"] == d["name"]
        assert by_code[d["code"]]["level"] == 1
        for s in d["units"]:
            if s["code"] is None:
                continue
            u = by_code[s["code"]]
            assert (u["name"], u["level"], u["parent_code"]) == (s["name"], 2, d["code"])
            assert u["verified"] is s["verified"] and u["source"] == s["source"]
            assert u["synthetic"] is False and u["synthetic_fields"] == ["geometry", "center"]
    level2 = [u for u in units if u["level"] == 2]
    assert len(level2) == sum(len(d["units"]) for d in doc["districts"])


def test_unit_without_code_gets_a_flagged_placeholder(units):
    (hemei,) = [u for u in units if u["name"] == "和美工贸园区"]
    assert hemei["code"] == "150428901" and hemei["parent_code"] == "150428"
    assert hemei["synthetic"] is True and hemei["verified"] is False and "code" in hemei["synthetic_fields"]


def test_each_level2_unit_has_at_least_three_children(units):
    children = {}
    for u in units:
        if u["level"] == 3:
            children.setdefault(u["parent_code"], []).append(u)
    for u in units:
        if u["level"] == 2:
            kids = children.get(u["code"], [])
            assert len(kids) >= 3, u["name"]
            for k in kids:
                assert re.fullmatch(re.escape(u["code"]) + r"\d{3}", k["code"])


def test_verified_communities_keep_real_names_and_are_flagged(doc, units):
    by_parent = {}
    for u in units:
        by_parent.setdefault(u["parent_code"], []).append(u)
    real_total = 0
    for d in doc["districts"]:
        for s in d["units"]:
            real = s.get("communities") or []
            real_total += len(real)
            if not real:
                continue
            kids = sorted(by_parent[s["code"]], key=lambda u: u["code"])
            assert [k["name"] for k in kids[: len(real)]] == [c["name"] for c in real]
            for k, c in zip(kids, real):
                assert k["verified"] is True and k["source"] == c["source"] and k["confidence"] == c["confidence"]
                assert k["synthetic_fields"] == ["code", "geometry", "center"]
            for k in kids[len(real):]:
                assert k["verified"] is False and k["synthetic"] is True and k["source"] == "synthetic"
    assert real_total == sum(1 for u in units if u["level"] == 3 and u["verified"])


def test_generated_names_are_unique_per_district_and_never_reuse_real_ones(units):
    district_of = {u["code"]: u["parent_code"] for u in units if u["level"] == 2}
    names = {}
    for u in units:
        if u["level"] == 3:
            names.setdefault(district_of[u["parent_code"]], []).append(u["name"])
    for district, ns in names.items():
        assert len(ns) == len(set(ns)), district
    generated = [u for u in units if u["level"] == 3 and not u["verified"]]
    assert all(u["name"].endswith(("社区", "村")) for u in generated)
    villages = [u for u in generated if u["kind"] == "village"]
    assert villages and all(u["code"][-3] == "2" for u in villages)  # NBS 村委会 serials 2xx


def test_same_level_polygons_never_overlap(units):
    for level in (1, 2, 3):
        geoms = [(u["code"], shape(u["geometry"])) for u in units if u["level"] == level]
        for (ca, a), (cb, b) in itertools.combinations(geoms, 2):
            assert a.intersection(b).area == 0, (ca, cb)


def test_children_nest_in_parents_and_tile_them(units):
    by_code = {u["code"]: u for u in units}
    kids = {}
    for u in units:
        if u["parent_code"]:
            parent = shape(by_code[u["parent_code"]]["geometry"])
            assert parent.covers(shape(u["geometry"])), u["code"]
            kids.setdefault(u["parent_code"], []).append(shape(u["geometry"]))
    for code, parts in kids.items():
        area = sum(p.area for p in parts)
        assert area == pytest.approx(shape(by_code[code]["geometry"]).area, rel=1e-9), code


def test_centres_lie_inside_their_polygons_and_near_the_data(doc, units):
    for u in units:
        assert shape(u["geometry"]).contains(Point(u["center"]["lon"], u["center"]["lat"])), u["code"]
        assert u["geometry"]["type"] == "Polygon"
    by_code = {u["code"]: u for u in units}
    for d in doc["districts"]:
        lon, lat = synthetic.gcj02_to_wgs84(d["centre"]["lon"], d["centre"]["lat"])
        assert by_code[d["code"]]["center"] == {"lon": round(lon, 6), "lat": round(lat, 6)}


def test_every_unit_carries_flags_and_source(units):
    for u in units:
        assert isinstance(u["synthetic"], bool) and isinstance(u["verified"], bool)
        assert u["source"] and isinstance(u["source_ref"], str)
        assert "geometry" in u["synthetic_fields"]


def test_changing_the_data_changes_the_output(doc):
    edited = copy.deepcopy(doc)
    edited["districts"][0]["units"][0]["communities"] = [
        {"name": "测试社区", "verified": True, "confidence": "high", "source": "nbs_streets"}
    ]
    units = build_sample_grid(edited)
    assert [u["name"] for u in units if u["code"] == "150402001001"] == ["测试社区"]


def test_undefined_source_tag_is_rejected(doc):
    edited = copy.deepcopy(doc)
    edited["districts"][0]["units"][0]["source"] = "no_such_source"
    with pytest.raises(ValueError, match="no_such_source"):
        build_sample_grid(edited)


@pytest.mark.parametrize("k", range(1, 16))
def test_split_rect_tiles_the_rectangle(k):
    bounds = (118.9, 42.2, 118.92, 42.215)
    parts = [shape(synthetic.rect_geojson(b)) for b in split_rect(bounds, k)]
    assert len(parts) == k
    assert sum(p.area for p in parts) == pytest.approx(0.02 * 0.015, rel=1e-9)
    for a, b in itertools.combinations(parts, 2):
        assert a.intersection(b).area == 0


def test_split_rect_rejects_zero():
    with pytest.raises(ValueError):
        split_rect((0, 0, 1, 1), 0)


def test_grow_regions_are_disjoint_contiguous_and_sized():
    regions = grow_regions([("a", (0, 0), 7), ("b", (1, 0), 5), ("c", (0, 0), 3)])
    assert {k: len(v) for k, v in regions.items()} == {"a": 7, "b": 5, "c": 3}
    all_cells = [c for cells in regions.values() for c in cells]
    assert len(all_cells) == len(set(all_cells))
    assert regions["a"][0] == (0, 0) and regions["b"][0] == (1, 0)
    for cells in regions.values():
        for cell in cells[1:]:
            earlier = cells[: cells.index(cell)]
            assert any(abs(cell[0] - e[0]) + abs(cell[1] - e[1]) == 1 for e in earlier)


@pytest.mark.parametrize(
    "label,kind",
    [("街道", "street"), ("街道(4xx编码)", "street"), ("镇", "town"), ("乡", "township"),
     ("类似乡级单位", "special"), ("园区 (as named in the project plan)", "special")],
)
def test_level2_kind_mapping(label, kind):
    assert level2_kind(label) == kind


def test_unknown_level2_type_is_an_error():
    with pytest.raises(ValueError, match="unknown level-2 unit type"):
        level2_kind("苏木")
