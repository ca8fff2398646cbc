"""GridIndex: point lookup over the sample grid and hand-made grids, address matching, rebuild."""

from __future__ import annotations

import threading

import pytest
from shapely.geometry import Point, shape

from hotline.grid.lookup import GridIndex, GridLookupError

from routing_cells import Cell, square

# --- points on the sample grid ----------------------------------------------------------------------


def test_every_community_centre_resolves_to_that_community(sample_units, sample_index):
    communities = [u for u in sample_units if u.level == 3]
    assert len(communities) > 100
    by_code = {u.code: u for u in sample_units}
    for u in communities:
        assert shape(u.geometry).contains(Point(u.center_lon, u.center_lat)), u.code
        found = sample_index.locate_point(u.center_lon, u.center_lat)
        assert found is not None, u.code
        assert found.unit.code == u.code
        street = by_code[u.parent_code]
        assert found.codes == (street.parent_code, street.code, u.code)
        assert found.names[-1] == u.name
        assert found.district.code == street.parent_code and found.street.code == street.code
        assert found.community.code == u.code


def test_a_point_far_away_resolves_to_nothing(sample_index):
    assert sample_index.locate_point(116.397, 39.909) is None      # Beijing
    assert sample_index.locate_point(0.0, 0.0) is None


@pytest.mark.parametrize("lon,lat", [(float("nan"), 42.0), (118.9, float("inf")), (181.0, 42.0),
                                     (118.9, -91.0), ("118.9", 42.0), (None, 42.0)])
def test_invalid_coordinates_are_refused(sample_index, lon, lat):
    with pytest.raises(GridLookupError, match="WGS-84"):
        sample_index.locate_point(lon, lat)


def test_unit_by_code_gives_the_chain(sample_index):
    p = sample_index.unit("150402001001")
    assert p.names == ("红山区", "西屯街道", "和平社区")
    assert p.label() == "红山区 › 西屯街道 › 和平社区（150402001001）"
    assert sample_index.unit("999999") is None


# --- hand-made grids: boundaries, gaps, levels -------------------------------------------------------


def two_communities(order=1):
    """District 100000 = [0,2]x[0,1]; street 100000001 = [0,2]x[0,1] minus nothing;
    communities A (west, [0,1]) and B (east, [1,2]) share the edge x = 1."""
    cells = [
        Cell("100000", "甲区", 1, None, "district", square(0, 0, 3, 1)),
        Cell("100000001", "乙街道", 2, "100000", "street", square(0, 0, 2, 1)),
        Cell("100000001002", "东社区", 3, "100000001", "community", square(1, 0, 2, 1)),
        Cell("100000001001", "西社区", 3, "100000001", "community", square(0, 0, 1, 1)),
    ]
    return GridIndex.from_units(cells[::order])


@pytest.mark.parametrize("order", [1, -1])
def test_a_point_on_a_shared_boundary_goes_to_the_smaller_code_whatever_the_input_order(order):
    index = two_communities(order)
    assert index.locate_point(1.0, 0.5).unit.code == "100000001001"
    assert index.locate_point(1.0, 1.0).unit.code == "100000001001"     # shared corner
    assert index.locate_point(1.5, 0.5).unit.code == "100000001002"
    assert index.locate_point(0.0, 0.0).unit.code == "100000001001"     # outer corner counts


def test_a_point_outside_every_community_falls_back_to_the_smallest_covering_unit():
    index = two_communities()
    assert index.locate_point(2.5, 0.5).codes == ("100000",)            # district only
    assert index.locate_point(3.5, 0.5) is None


def test_a_unit_without_polygon_is_named_but_never_hit_by_points():
    cells = [Cell("100000", "甲区", 1, None, "district", square(0, 0, 1, 1)),
             Cell("100000001", "乙街道", 2, "100000", "street", None)]
    index = GridIndex.from_units(cells)
    assert index.locate_point(0.5, 0.5).codes == ("100000",)
    assert index.unit("100000001").names == ("甲区", "乙街道")


@pytest.mark.parametrize("cells,message", [
    ([Cell("100000", "甲区", 1, None, "district", square(0, 0, 1, 1))] * 2, "duplicate unit code 100000"),
    ([Cell("100000001", "乙街道", 2, "100001", "street", square(0, 0, 1, 1))], "unknown parent 100001"),
    ([Cell("100000", "甲区", 1, None, "district", {"type": "Point", "coordinates": [0, 0]})], "Polygon"),
    ([Cell("100000", "甲区", 1, None, "district",
           {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})], "valid"),
    ([Cell("100000", "", 1, None, "district", square(0, 0, 1, 1))], "empty name"),
    ([Cell("100000", "甲区", 7, None, "district", square(0, 0, 1, 1))], "level 7"),
])
def test_inconsistent_units_are_refused_with_the_reason(cells, message):
    with pytest.raises(GridLookupError, match=message):
        GridIndex.from_units(cells)


# --- rebuild -------------------------------------------------------------------------------------------


def test_rebuild_replaces_the_grid_and_a_bad_grid_keeps_the_old_one():
    index = two_communities()
    assert index.version == 1 and len(index) == 4
    moved = [Cell("100000", "甲区", 1, None, "district", square(0, 0, 3, 1)),
             Cell("100000001", "乙街道", 2, "100000", "street", square(0, 0, 3, 1)),
             Cell("100000001003", "新社区", 3, "100000001", "community", square(0, 0, 3, 1))]
    index.rebuild(moved)
    assert index.version == 2 and len(index) == 3
    assert index.locate_point(1.5, 0.5).unit.code == "100000001003"
    assert index.locate_point(2.5, 0.5).unit.code == "100000001003"
    assert index.unit("100000001001") is None
    assert index.locate_address("西社区").status == "none"
    assert index.locate_address("新社区").placement.unit.code == "100000001003"

    with pytest.raises(GridLookupError, match="unknown parent"):
        index.rebuild([Cell("100000001", "乙街道", 2, "404040", "street", square(0, 0, 1, 1))])
    assert index.version == 2
    assert index.locate_point(1.5, 0.5).unit.code == "100000001003"


def test_rebuild_without_units_calls_the_loader_again():
    grids = [[Cell("100000", "甲区", 1, None, "district", square(0, 0, 1, 1))],
             [Cell("200000", "丙区", 1, None, "district", square(0, 0, 1, 1))]]
    calls = []

    def loader():
        calls.append(1)
        return grids[len(calls) - 1]

    index = GridIndex.from_loader(loader)
    assert index.locate_point(0.5, 0.5).unit.name == "甲区"
    index.rebuild()
    assert index.locate_point(0.5, 0.5).unit.name == "丙区"
    assert len(calls) == 2
    with pytest.raises(GridLookupError, match="loader"):
        two_communities().rebuild()


def test_lookups_during_rebuilds_always_see_one_whole_grid():
    """Grid A and grid B name the same square differently; a reader must never mix them."""
    grid_a = [Cell("100000", "甲区", 1, None, "district", square(0, 0, 1, 1)),
              Cell("100000001", "甲街道", 2, "100000", "street", square(0, 0, 1, 1))]
    grid_b = [Cell("200000", "乙区", 1, None, "district", square(0, 0, 1, 1)),
              Cell("200000001", "乙街道", 2, "200000", "street", square(0, 0, 1, 1))]
    index = GridIndex.from_units(grid_a)
    seen: set[tuple[str, ...]] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                seen.add(index.locate_point(0.5, 0.5).codes)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(200):
        index.rebuild(grid_b if i % 2 == 0 else grid_a)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert seen <= {("100000", "100000001"), ("200000", "200000001")}
    assert index.version == 201


# --- addresses on the sample grid -------------------------------------------------------------------


def test_a_full_address_resolves_to_the_community(sample_index):
    m = sample_index.locate_address("赤峰市红山区西屯街道和平社区3号楼")
    assert m.status == "matched"
    assert m.placement.codes == ("150402", "150402001", "150402001001")
    assert m.terms == ("红山区", "西屯街道", "和平社区")


@pytest.mark.parametrize("text,code", [
    ("西屯街道办事处门口", "150402001"),
    ("西屯街道办", "150402001"),
    ("西屯", "150402001"),
    ("平庄西城街道", "150403004"),          # 平庄 inside a longer name does not count
    ("锦山镇王家营子村", "150428100201"),
    ("锦山王家营子村委会", "150428100201"),
    ("喀喇沁", "150428"),
    ("红山区幸福路18号", "150402"),         # a road named like a community is not that community
    ("元宝山区元宝山镇", "150403101"),
])
def test_names_and_suffix_variants(sample_index, text, code):
    m = sample_index.locate_address(text)
    assert m.status == "matched", (text, m)
    assert m.placement.unit.code == code


def test_a_repeated_community_name_is_ambiguous_with_every_candidate(sample_index, sample_units):
    m = sample_index.locate_address("和平社区")
    expected = sorted(u.code for u in sample_units if u.name == "和平社区")
    assert len(expected) > 1
    assert m.status == "ambiguous" and m.placement is None
    assert [c.unit.code for c in m.candidates] == expected


def test_the_district_narrows_a_repeated_name(sample_index, sample_units):
    m = sample_index.locate_address("松山区和平社区")
    in_songshan = [u.code for u in sample_units if u.name == "和平社区" and u.code.startswith("150404")]
    if len(in_songshan) == 1:
        assert m.status == "matched" and m.placement.unit.code == in_songshan[0]
    else:
        assert m.status == "ambiguous" and [c.unit.code for c in m.candidates] == sorted(in_songshan)


def test_contradicting_names_are_ambiguous(sample_index):
    m = sample_index.locate_address("松山区西屯街道")          # 西屯街道 lies in 红山区
    assert m.status == "ambiguous"
    assert {c.unit.code for c in m.candidates} == {"150404", "150402001"}


def test_one_word_naming_a_district_and_a_town_is_ambiguous(sample_index):
    m = sample_index.locate_address("元宝山")
    assert m.status == "ambiguous"
    assert {c.unit.code for c in m.candidates} == {"150403", "150403101"}


@pytest.mark.parametrize("text", ["", "   ", "北京市朝阳区", "和平路"])
def test_no_unit_named(sample_index, text):
    m = sample_index.locate_address(text)
    assert m.status == "none" and m.placement is None and m.candidates == ()


def test_address_must_be_text(sample_index):
    with pytest.raises(GridLookupError, match="text"):
        sample_index.locate_address(None)


def test_multipolygons_and_polygons_with_holes_are_honoured():
    """The bulk path handles simple polygons; other shapes go through GeoJSON one by one."""
    multi = {"type": "MultiPolygon", "coordinates": [square(0, 0, 1, 1)["coordinates"],
                                                     square(5, 5, 6, 6)["coordinates"]]}
    holed = {"type": "Polygon", "coordinates": [square(10, 10, 13, 13)["coordinates"][0],
                                                square(11, 11, 12, 12)["coordinates"][0]]}
    index = GridIndex.from_units([Cell("100000", "飞地区", 1, None, "district", multi),
                                  Cell("200000", "环形区", 1, None, "district", holed)])
    assert index.locate_point(5.5, 5.5).unit.code == "100000"
    assert index.locate_point(3.0, 3.0) is None
    assert index.locate_point(10.5, 10.5).unit.code == "200000"
    assert index.locate_point(11.5, 11.5) is None            # inside the hole


def test_malformed_coordinates_name_the_unit():
    cells = [Cell("100000", "甲区", 1, None, "district", square(0, 0, 1, 1)),
             Cell("200000", "乙区", 1, None, "district", {"type": "Polygon", "coordinates": [[[0, 0], "x"]]})]
    with pytest.raises(GridLookupError, match="unit 200000: bad geometry"):
        GridIndex.from_units(cells)


def test_one_character_names_and_names_at_the_end_of_the_text():
    cells = [Cell("100000", "甲", 1, None, "district", square(0, 0, 1, 1)),
             Cell("100000001", "乙街道", 2, "100000", "street", square(0, 0, 1, 1))]
    index = GridIndex.from_units(cells)
    assert index.locate_address("就在甲").placement.unit.code == "100000"
    assert index.locate_address("甲乙街道").placement.unit.code == "100000001"
    assert index.locate_address("乙").status == "none"      # a one-character base name is not used
