"""GCJ-02 <-> WGS-84 conversion used to place the sample grid."""

import math

import pytest

from hotline.grid.synthetic import gcj02_to_wgs84, out_of_china, wgs84_to_gcj02


def test_forward_matches_published_reference_vector():
    # Reference pair published with the widely used coordtransform/eviltransform implementations.
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-9)
    assert lat == pytest.approx(39.91640428150164, abs=1e-9)


@pytest.mark.parametrize(
    "lon,lat",
    [(118.96109, 42.269733), (119.289879, 42.041168), (118.708572, 41.92778), (116.404, 39.915), (121.4998, 31.2397)],
)
def test_inverse_round_trips_below_a_millimetre(lon, lat):
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    back = wgs84_to_gcj02(wlon, wlat)
    assert back[0] == pytest.approx(lon, abs=1e-8)
    assert back[1] == pytest.approx(lat, abs=1e-8)


def test_inverse_is_better_than_the_one_step_approximation():
    # The one-step inverse published alongside the reference gives (116.39775550083061, 39.91359571849836);
    # the iterative inverse differs from it by the second-order error (metres, not hundreds of metres).
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    assert abs(lon - 116.39775550083061) < 5e-5 and abs(lat - 39.91359571849836) < 5e-5
    assert (lon, lat) != (116.39775550083061, 39.91359571849836)


def test_chifeng_offset_is_a_few_hundred_metres_south_west():
    glon, glat = 118.96109, 42.269733
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    dx = (glon - wlon) * 111_320 * math.cos(math.radians(glat))
    dy = (glat - wlat) * 110_540
    assert 300 < math.hypot(dx, dy) < 800
    assert dx > 0 and dy > 0  # GCJ-02 is shifted north-east of WGS-84 here


def test_outside_china_is_unchanged():
    assert out_of_china(2.35, 48.85)
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)
    assert wgs84_to_gcj02(-74.0, 40.7) == (-74.0, 40.7)
    assert not out_of_china(118.96, 42.27)
