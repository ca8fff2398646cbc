"""Helpers of the case page tests: HTML requests, action forms, tickets in a given state, and
real small images."""

from __future__ import annotations

import re
import struct
import zlib
from html import unescape

from fastapi.testclient import TestClient

from tests.api.conftest import HONGSHAN_HEPING, SONGSHAN_MINZHU, new_ticket

HTML = {"Accept": "text/html"}


def page(client: TestClient, url: str, **kw):
    return client.get(url, headers=HTML, follow_redirects=False, **kw)


def text_of(response) -> str:
    """The page's text without tags (what a user reads)."""
    body = re.sub(r"<script.*?</script>|<style.*?</style>", "", response.text, flags=re.S)
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def version_of(client: TestClient, number: str) -> int:
    return client.get(f"/api/tickets/{number}").json()["version"]


def submit(client: TestClient, number: str, action: str, version: int | None = None, *, files=None, **fields):
    """Post an action form of the ticket page as the browser does (no redirect following)."""
    data = {k: str(v) for k, v in fields.items()}
    data["expected_version"] = str(version if version is not None else version_of(client, number))
    return client.post(f"/tickets/{number}/actions/{action}", data=data, files=files, headers=HTML,
                       follow_redirects=False)


def act(client: TestClient, number: str, action: str, **payload) -> dict:
    """An action through the JSON API (to set up a state); fails the test when refused."""
    r = client.post(f"/api/tickets/{number}/actions/{action}",
                    json={"expected_version": version_of(client, number), **payload})
    assert r.status_code == 200, r.text
    return r.json()


def hongshan_ticket(agent: TestClient, **overrides) -> str:
    """A 供水井盖 ticket in 红山区 (routed to the water company, which leads)."""
    return new_ticket(agent, **overrides)["ticket"]["number"]


def songshan_ticket(agent: TestClient, **overrides) -> str:
    return new_ticket(agent, lat=SONGSHAN_MINZHU[0], lon=SONGSHAN_MINZHU[1], **overrides)["ticket"]["number"]


def dispatched(agent: TestClient, disp: TestClient, number: str, responsible: str = "department", **extra) -> str:
    act(agent, number, "register")
    act(disp, number, "dispatch", responsible=responsible, **extra)
    return number


def png(width: int = 2, height: int = 2, rgb=(200, 30, 30)) -> bytes:
    """A real PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"

__all__ = ["HTML", "page", "text_of", "version_of", "submit", "act", "hongshan_ticket", "songshan_ticket",
           "dispatched", "png", "JPEG", "WEBP", "HONGSHAN_HEPING"]
