"""Codes the routing rules may refer to: category codes and grid unit codes from the
project's own data files (``hotline/data``)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache
def known_codes() -> tuple[frozenset[str], frozenset[str]]:
    """``(category codes, grid unit codes)`` of the shipped sample data."""
    from hotline.grid.sample import load_categories, load_sample_grid

    categories = frozenset(c.code for c in load_categories())
    units = frozenset(u.code for u in load_sample_grid())
    return categories, units
