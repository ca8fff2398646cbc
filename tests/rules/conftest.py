"""Fixtures for the routing-rules tests: the shipped file, the shared reference data, and a
helper that writes a variant of the shipped file with one defect injected."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hotline.rules import read_category_codes, read_unit_codes

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / "hotline" / "data"  # project-owned copies of ../shared/data
RULES_FILE = REPO / "routing_rules.yaml"


@pytest.fixture(scope="session")
def rules_path() -> Path:
    return RULES_FILE


@pytest.fixture(scope="session")
def category_rows() -> list[dict[str, str]]:
    with open(SHARED / "categories.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def shipped_text() -> str:
    return RULES_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def categories() -> set[str]:
    return read_category_codes(SHARED / "categories.csv")


@pytest.fixture(scope="session")
def units() -> set[str]:
    return read_unit_codes(SHARED / "chifeng_grid.yaml")


def _position(text: str, needle: str) -> tuple[int, int]:
    assert text.count(needle) == 1, f"{needle!r} occurs {text.count(needle)} times"
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


@pytest.fixture(scope="session")
def position():
    """``position(text, needle)`` → 1-based (line, column) of the only occurrence of ``needle``."""
    return _position


@pytest.fixture
def variant(tmp_path, shipped_text):
    """``variant(old, new)`` writes the shipped file with ``old`` (occurring once) replaced."""

    def make(old: str, new: str, name: str = "routing_rules.yaml") -> tuple[Path, str]:
        assert shipped_text.count(old) == 1, f"{old!r} occurs {shipped_text.count(old)} times"
        text = shipped_text.replace(old, new)
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path, text

    return make
