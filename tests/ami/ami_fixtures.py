"""Helpers for the AMI tests: locating the real Asterisk 20 fixtures (tests/fixtures, copied from ../shared)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk-20"

AMI_FIXTURES = sorted(p for p in FIXTURES.glob("[0-9]*.txt"))


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()

