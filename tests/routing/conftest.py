"""Fixtures for routing tests: the shipped sample grid, categories and routing rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.grid.lookup import GridIndex
from hotline.grid.sample import load_categories, load_sample_grid
from hotline.rules import load_rules

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sample_units():
    return load_sample_grid()


@pytest.fixture(scope="session")
def sample_index(sample_units) -> GridIndex:
    return GridIndex.from_units(sample_units)


@pytest.fixture(scope="session")
def categories():
    return load_categories()


@pytest.fixture(scope="session")
def shipped_rules():
    return load_rules(REPO / "routing_rules.yaml")
