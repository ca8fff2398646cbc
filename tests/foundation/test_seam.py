"""The seam between ivr/ and hotline/ (design §2), checked on the source: an allow-list.

``hotline`` may use ``ivr`` only through its declared surface — :mod:`ivr.api`, and the seam
modules :mod:`ivr.events`, :mod:`ivr.bus` and :mod:`ivr.directory` — in every import form
(``import ivr.x``, ``from ivr.x import y``, ``from ivr import x``, ``importlib.import_module("ivr.x")``).
One module assembles the telephony runtime from the protocol parts and may use them all:
``hotline/telephony.py``. ``ivr`` never imports ``hotline``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SURFACE = {"ivr.api", "ivr.events", "ivr.bus", "ivr.directory"}
ASSEMBLY = {"hotline/telephony.py"}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, whatever the form; ``from pkg import name`` counts as
    ``pkg.name`` (it may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.add(node.args[0].value)
    return out


def _outside_surface(module: str) -> bool:
    if module != "ivr" and not module.startswith("ivr."):
        return False
    if module == "ivr":
        return True                      # `import ivr` reaches everything
    return not any(module == s or module.startswith(s + ".") for s in SURFACE)


def _offenders(modules: set[str]) -> list[str]:
    # ``from ivr.api import X`` also yields ``ivr.api.X``: allowed. ``from ivr import ami`` yields
    # ``ivr`` and ``ivr.ami``: refused.
    return sorted(m for m in modules if _outside_surface(m)
                  and not (m == "ivr" and any(x.startswith("ivr.") for x in modules)
                           and all(not _outside_surface(x) for x in modules if x.startswith("ivr."))))


def test_ivr_never_imports_hotline():
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in imported_modules(p) if m.split(".")[0] == "hotline")
                 for p in (ROOT / "ivr").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_hotline_uses_ivr_only_through_its_declared_surface():
    offenders = {}
    for p in (ROOT / "hotline").rglob("*.py"):
        rel = str(p.relative_to(ROOT))
        if rel in ASSEMBLY:
            continue
        bad = _offenders(imported_modules(p))
        if bad:
            offenders[rel] = bad
    assert offenders == {}


def test_the_check_catches_every_import_form(tmp_path):
    forms = {
        "import ivr.ami.client": ["ivr.ami.client"],
        "from ivr import ami": ["ivr", "ivr.ami"],
        "from ivr.calls import CallTracker": ["ivr.calls", "ivr.calls.CallTracker"],
        "import importlib\nimportlib.import_module('ivr.simulator')": ["ivr.simulator"],
        "__import__('ivr.agi')": ["ivr.agi"],
        "import ivr": ["ivr"],
    }
    for source, expected in forms.items():
        f = tmp_path / "m.py"
        f.write_text(source + "\n", encoding="utf-8")
        assert _offenders(imported_modules(f)) == expected, source
    for allowed in ("from ivr.api import flow_from_rules", "import ivr.events", "from ivr.bus import EventBus",
                    "from ivr.directory import Directory"):
        f = tmp_path / "ok.py"
        f.write_text(allowed + "\n", encoding="utf-8")
        assert _offenders(imported_modules(f)) == [], allowed


def test_the_surface_exports_what_it_declares():
    import ivr.api

    missing = [name for name in ivr.api.__all__ if not hasattr(ivr.api, name)]
    assert missing == []
