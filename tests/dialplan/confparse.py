"""A small reader for rendered extensions.conf files (the subset the templates emit).

Enough to follow Goto targets in tests: contexts → extensions → priorities with
their label, application and raw argument string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_EXTEN = re.compile(r"^exten\s*=>\s*([^,]+),(\d+|n)(?:\(([^)]+)\))?,(\w+)\((.*)\)\s*$")
_SAME = re.compile(r"^same\s*=>\s*(\d+|n)(?:\(([^)]+)\))?,(\w+)\((.*)\)\s*$")


@dataclass
class Step:
    priority: int
    label: str | None
    app: str
    args: str


@dataclass
class Dialplan:
    contexts: dict[str, dict[str, list[Step]]] = field(default_factory=dict)

    def steps(self, context: str, exten: str) -> list[Step]:
        return self.contexts[context][exten]

    def find(self, context: str, exten: str, priority: str) -> int:
        """Index of ``priority`` (a number or a label) in the extension's steps."""
        steps = self.contexts[context][exten]
        for i, st in enumerate(steps):
            if st.label == priority or str(st.priority) == priority:
                return i
        raise KeyError(f"{context},{exten},{priority}")

    def apps(self) -> list[tuple[str, str, Step]]:
        return [(c, e, st) for c, exts in self.contexts.items() for e, steps in exts.items() for st in steps]


def parse(text: str) -> Dialplan:
    dp = Dialplan()
    ctx = None
    last_exten = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()  # the templates never put ';' inside arguments
        if not line:
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            ctx = m.group(1)
            dp.contexts.setdefault(ctx, {})
            continue
        m = _EXTEN.match(line)
        if m:
            exten, prio, label, app, args = m.groups()
            assert ctx is not None and prio == "1", line
            dp.contexts[ctx].setdefault(exten, []).append(Step(1, label, app, args))
            last_exten = exten
            continue
        m = _SAME.match(line)
        if m:
            prio, label, app, args = m.groups()
            steps = dp.contexts[ctx][last_exten]
            steps.append(Step(steps[-1].priority + 1, label, app, args))
            continue
        raise AssertionError(f"unparsed line: {raw!r}")
    return dp


def split_args(args: str) -> list[str]:
    """Split on top-level commas (not inside ${...}, $[...] or (...))."""
    out, depth, cur = [], 0, ""
    for ch in args:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def goto_targets(step: Step) -> list[str]:
    """Raw Goto target strings of a Goto/GotoIf/GotoIfTime step."""
    if step.app == "Goto":
        return [step.args]
    if step.app in ("GotoIf", "GotoIfTime"):
        _, _, dests = step.args.rpartition("?")
        return [d for d in _split_colon(dests) if d]
    return []


def _split_colon(dests: str) -> list[str]:
    return dests.split(":")


def resolve(dp: Dialplan, context: str, exten: str, target: str) -> tuple[str, str, int]:
    """``[[context,]exten,]priority`` relative to (context, exten) → (context, exten, step index)."""
    parts = target.split(",")
    if len(parts) == 1:
        c, e, p = context, exten, parts[0]
    elif len(parts) == 2:
        c, (e, p) = context, parts
    else:
        c, e, p = parts
    return c, e, dp.find(c, e, p)


def referenced_prompts(dp: Dialplan, prompts_dir: str) -> set[str]:
    """Sound files the dialplan plays (Background, Playback, Read prompts), relative to prompts_dir."""
    files = set()
    for _, _, st in dp.apps():
        if st.app in ("Background", "Playback"):
            names = split_args(st.args)[0].split("&")
        elif st.app == "Read":
            names = split_args(st.args)[1].split("&")
        else:
            continue
        for name in names:
            assert name.startswith(prompts_dir + "/"), name
            files.add(name[len(prompts_dir) + 1:])
    return files
