"""Every page of this branch renders for its roles (and refuses the others)."""

from __future__ import annotations

import pytest

from .conftest import html_client


@pytest.mark.parametrize("path", ["/admin", "/admin/users", "/admin/audit", "/admin/users?role=agent&state=active",
                                  "/notices", "/account/password"])
def test_admin_pages_render_for_the_admin(client_for, path):
    r = html_client(client_for("admin1")).get(path)
    assert r.status_code == 200, r.text[:2000]
    assert "<html" in r.text


@pytest.mark.parametrize("username", ["agent1", "disp1", "hs", "water", "sup1"])
def test_admin_pages_refuse_other_roles(client_for, username):
    c = html_client(client_for(username))
    for path in ("/admin", "/admin/users", "/admin/audit"):
        r = c.get(path)
        assert r.status_code == 403 and "无权" in r.text
    assert c.get("/notices").status_code == 200 and c.get("/account/password").status_code == 200
