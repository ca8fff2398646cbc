"""The seam between ivr/ and hotline/ (design §2), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the one place that assembles telephony components for `hotline serve`
ASSEMBLY = {"hotline/telephony.py"}
PROTOCOL_PACKAGES = ("ivr.ami", "ivr.agi", "ivr.simulator")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_ivr_never_imports_hotline():
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in imports(p) if m.split(".")[0] == "hotline")
                 for p in (ROOT / "ivr").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_hotline_never_touches_protocol_internals_outside_the_assembly():
    offenders = {}
    for p in (ROOT / "hotline").rglob("*.py"):
        rel = str(p.relative_to(ROOT))
        bad = sorted(m for m in imports(p) if m.startswith(PROTOCOL_PACKAGES))
        if bad and rel not in ASSEMBLY:
            offenders[rel] = bad
    assert offenders == {}
