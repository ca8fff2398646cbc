#!/usr/bin/env python3
"""Regenerate ``hotline/data/grid_sample.json`` from ``hotline/data/chifeng_grid.yaml``.

Usage: ``python scripts/build_sample_grid.py [--check]``. With ``--check`` nothing is
written; the exit status is 1 when the committed file differs from a fresh build.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotline.grid.sample import render_sample_grid  # noqa: E402

TARGET = ROOT / "hotline" / "data" / "grid_sample.json"
SOURCE = ROOT / "hotline" / "data" / "chifeng_grid.yaml"


def main(argv: list[str]) -> int:
    text = render_sample_grid(SOURCE.read_text(encoding="utf-8"))
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date; run scripts/build_sample_grid.py", file=sys.stderr)
            return 1
        print(f"{TARGET.relative_to(ROOT)} is up to date")
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
