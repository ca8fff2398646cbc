"""Read ``routing_rules.yaml``: parse, validate, cross-check, and point every problem at its line.

A file is used whole or not at all: :func:`load_rules` returns :class:`Rules` only when no
problem was found, otherwise it raises :class:`RulesError` with every issue.
"""

from __future__ import annotations

import csv
from os import PathLike
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from .checks import check_references
from .issues import Path, RuleIssue, RulesError, format_path
from .schema import SCHEMA_VERSION, Rules


def load_rules(path: str | PathLike[str], *, categories: set[str] | None = None,
               units: set[str] | None = None) -> Rules:
    rules, issues = _analyse_file(path, categories, units)
    if issues or rules is None:
        raise RulesError(issues)
    return rules


def check_rules_file(path: str | PathLike[str], *, categories: set[str] | None = None,
                     units: set[str] | None = None) -> list[RuleIssue]:
    return _analyse_file(path, categories, units)[1]


def parse_rules(text: str, *, source: str = "<string>", categories: set[str] | None = None,
                units: set[str] | None = None) -> tuple[Rules | None, list[RuleIssue]]:
    """Validate rules given as text; returns the rules (``None`` if any issue) and the issues."""
    node, data, issues = _parse_yaml(text, source)
    if issues:
        return None, issues

    def issue(path: Path, message: str) -> RuleIssue:
        shown, (line, column) = _locate(node, path)
        return RuleIssue(source, line, column, format_path(shown), message)

    if not isinstance(data, dict):
        return None, [issue((), "the file must be a mapping of sections (version, calendar, districts, …)")]
    if "version" not in data:
        return None, [issue((), f"missing 'version: {SCHEMA_VERSION}' at the top of the file")]
    if data["version"] != SCHEMA_VERSION:
        return None, [issue(("version",), f"unsupported schema version {data['version']!r}; "
                                          f"this program reads version {SCHEMA_VERSION}")]
    duplicates = [issue(path, f"key {key!r} appears twice in this mapping") for path, key in _duplicate_keys(node)]
    try:
        rules = Rules.model_validate(data)
    except ValidationError as exc:
        found = duplicates + [issue(tuple(err["loc"]), _message(err)) for err in exc.errors()]
        return None, _unique(found)
    found = duplicates + [issue(path, message)
                          for path, message in check_references(rules, categories=categories, units=units)]
    return (None, sorted(found, key=lambda i: (i.line, i.column))) if found else (rules, [])


def read_category_codes(csv_path: str | PathLike[str]) -> set[str]:
    """Category codes from a ``categories.csv`` (column ``code``)."""
    with open(csv_path, encoding="utf-8", newline="") as fh:
        return {row["code"] for row in csv.DictReader(fh) if row.get("code")}


def read_unit_codes(grid_yaml: str | PathLike[str]) -> set[str]:
    """District (6-digit) and street/town (9-digit) codes from a ``chifeng_grid.yaml``."""
    grid = yaml.safe_load(FsPath(grid_yaml).read_text(encoding="utf-8"))
    codes: set[str] = set()
    for district in grid.get("districts", []):
        codes.add(str(district["code"]))
        codes.update(str(u["code"]) for u in district.get("units", []) if u.get("code"))
    return codes


# --- internals ---------------------------------------------------------------------------------

def _analyse_file(path: str | PathLike[str], categories: set[str] | None,
                  units: set[str] | None) -> tuple[Rules | None, list[RuleIssue]]:
    name = str(path)
    try:
        text = FsPath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [RuleIssue(name, 0, 0, "", f"cannot read the file: {exc}")]
    return parse_rules(text, source=name, categories=categories, units=units)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when available; both keep marks


def _parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any, list[RuleIssue]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None, [RuleIssue(source, 1, 1, "", "the file is empty")]
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        return None, None, [RuleIssue(source, line, column, "", f"malformed YAML: {problem}")]
    except yaml.YAMLError as exc:
        return None, None, [RuleIssue(source, 0, 0, "", f"malformed YAML: {exc}")]
    finally:
        loader.dispose()
    return node, data, []


def _key_text(key: yaml.Node) -> str | None:
    return key.value if isinstance(key, yaml.ScalarNode) else None


def _locate(root: yaml.Node | None, loc: Path) -> tuple[Path, tuple[int, int]]:
    """Follow a pydantic location through the YAML node tree.

    Returns the path to show and the (line, column) of the deepest node found: the key of a
    mapping entry, the item of a sequence, or the enclosing node when a field is missing.
    Location parts below a scalar (pydantic's union and function tags) are dropped.
    """
    if root is None:
        return tuple(loc), (1, 1)
    shown: list[str | int] = []
    node, mark = root, root.start_mark
    for part in loc:
        if part == "[key]":      # pydantic marks a bad dict key this way; we already point at the key
            continue
        if isinstance(node, yaml.MappingNode):
            shown.append(part)
            entry = next(((k, v) for k, v in node.value if _key_text(k) == str(part)), None)
            if entry is None:
                break
            mark, node = entry[0].start_mark, entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            shown.append(part)
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return tuple(shown), (mark.line + 1, mark.column + 1)


def _duplicate_keys(node: yaml.Node | None, path: Path = ()) -> list[tuple[Path, str]]:
    """YAML silently keeps the last of two equal keys; we refuse such a file instead."""
    found: list[tuple[Path, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            text = _key_text(key)
            if text is not None and text in seen:
                found.append((path + (text,), text))
            if text is not None:
                seen.add(text)
            found.extend(_duplicate_keys(value, path + (text or "?",)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, path + (i,)))
    return found


_PLAIN = (dict, list, tuple)


def _message(err: dict[str, Any]) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see docs/routing-rules.md for the allowed fields)"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    elif msg.startswith("Input should be "):
        msg = "must be " + msg[len("Input should be "):]
    if kind != "value_error" and not isinstance(value, _PLAIN):
        msg += f" (got {value!r})"
    return msg


def _unique(issues: list[RuleIssue]) -> list[RuleIssue]:
    """Keep the first issue per field path (a union type reports once per member)."""
    seen: set[str] = set()
    out = []
    for i in issues:
        if i.path not in seen:
            seen.add(i.path)
            out.append(i)
    return sorted(out, key=lambda i: (i.line, i.column))
