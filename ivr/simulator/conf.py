"""Dialplan and queue configuration as data.

A :class:`Dialplan` maps contexts to extensions to an ordered list of
:class:`Step` (priority, optional label, application, raw argument string).
It is parsed from Asterisk's ``extensions.conf`` format (``[context]``,
``exten => x,n(label),App(args)``, ``same => n,...``) or built directly from
Python data, so a dialplan rendered elsewhere can be loaded unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(slots=True)
class Step:
    priority: int
    app: str
    args: str = ""
    label: str | None = None


@dataclass(slots=True)
class Extension:
    name: str
    steps: list[Step] = field(default_factory=list)

    def step(self, priority: int) -> Step | None:
        for s in self.steps:
            if s.priority == priority:
                return s
        return None

    def label(self, label: str) -> int | None:
        for s in self.steps:
            if s.label == label:
                return s.priority
        return None


@dataclass(slots=True)
class Context:
    name: str
    extensions: dict[str, Extension] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)


def pattern_matches(pattern: str, exten: str) -> bool:
    """Asterisk extension matching: literal, or ``_`` pattern with X Z N . ! [..]."""
    if not pattern.startswith("_"):
        return pattern == exten
    rx = []
    p = pattern[1:]
    i = 0
    while i < len(p):
        c = p[i]
        if c in "Xx":
            rx.append("[0-9]")
        elif c in "Zz":
            rx.append("[1-9]")
        elif c in "Nn":
            rx.append("[2-9]")
        elif c == ".":
            rx.append(".+")
        elif c == "!":
            rx.append(".*")
        elif c == "[":
            j = p.find("]", i)
            if j < 0:
                return False
            rx.append("[" + p[i + 1 : j] + "]")
            i = j
        else:
            rx.append(re.escape(c))
        i += 1
    return re.fullmatch("".join(rx), exten) is not None


def _specificity(pattern: str) -> tuple[int, int]:
    """Sort key: literal extensions first, then more specific patterns."""
    if not pattern.startswith("_"):
        return (0, 0)
    return (1, -len(pattern.rstrip(".!")) + (100 if pattern.endswith((".", "!")) else 0))


@dataclass(slots=True)
class Dialplan:
    contexts: dict[str, Context] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)

    # -- look-up ------------------------------------------------------------
    def find(self, context: str, exten: str, _seen: frozenset = frozenset()) -> Extension | None:
        ctx = self.contexts.get(context)
        if ctx is None or context in _seen:
            return None
        if exten in ctx.extensions and not exten.startswith("_"):
            return ctx.extensions[exten]
        candidates = [e for k, e in ctx.extensions.items() if k.startswith("_") and pattern_matches(k, exten)]
        if candidates:
            return sorted(candidates, key=lambda e: _specificity(e.name))[0]
        for inc in ctx.includes:
            found = self.find(inc, exten, _seen | {context})
            if found is not None:
                return found
        return None

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        ext = self.find(context, exten)
        return ext is not None and ext.step(priority) is not None

    def can_match_more(self, context: str, prefix: str) -> bool:
        """True when some extension in ``context`` is longer and starts with ``prefix``."""
        ctx = self.contexts.get(context)
        if ctx is None:
            return False
        for name in ctx.extensions:
            if name.startswith("_"):
                body = name[1:]
                open_end = body.endswith((".", "!"))
                fixed = body.rstrip(".!")
                if len(fixed) >= len(prefix):
                    head_ok = pattern_matches("_" + fixed[: len(prefix)], prefix)
                    if head_ok and (len(body) > len(prefix) or open_end):
                        return True
                elif open_end and pattern_matches("_" + fixed, prefix[: len(fixed)]):
                    return True
            elif len(name) > len(prefix) and name.startswith(prefix):
                return True
        return False

    # -- construction -------------------------------------------------------
    def add(self, context: str, exten: str, priority: int, app: str, args: str = "", label: str | None = None) -> None:
        ctx = self.contexts.setdefault(context, Context(context))
        ext = ctx.extensions.setdefault(exten, Extension(exten))
        ext.steps.append(Step(priority, app, args, label))
        ext.steps.sort(key=lambda s: s.priority)

    @classmethod
    def from_dict(cls, data: dict) -> "Dialplan":
        """Build from ``{"globals": {...}, "contexts": {ctx: {exten: [step, ...]}}}``.

        A step is ``"App(args)"`` or ``{"app": ..., "args": ..., "label": ...}``;
        priorities are numbered from 1 in list order.
        """
        dp = cls(globals=dict(data.get("globals", {})))
        for cname, extens in data.get("contexts", {}).items():
            dp.contexts.setdefault(cname, Context(cname))
            for exten, steps in extens.items():
                if exten == "include":
                    dp.contexts[cname].includes.extend(steps)
                    continue
                for n, step in enumerate(steps, start=1):
                    if isinstance(step, str):
                        app, args = split_app(step)
                        dp.add(cname, exten, n, app, args)
                    else:
                        dp.add(cname, exten, n, step["app"], step.get("args", ""), step.get("label"))
        return dp

    @classmethod
    def from_conf(cls, text: str) -> "Dialplan":
        return parse_extensions_conf(text)


def split_app(text: str) -> tuple[str, str]:
    """``"Dial(Local/1@x,20)"`` -> ``("Dial", "Local/1@x,20")``; ``"Answer"`` -> ``("Answer", "")``."""
    text = text.strip()
    i = text.find("(")
    if i < 0:
        return text, ""
    app = text[:i].strip()
    rest = text[i + 1 :]
    if rest.endswith(")"):
        rest = rest[:-1]
    return app, rest


def _strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            out.append(line[i : i + 2])
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


class ConfError(ValueError):
    pass


def parse_extensions_conf(text: str) -> Dialplan:
    dp = Dialplan()
    section: str | None = None
    last_exten: str | None = None
    last_prio = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line:
            continue
        m = re.fullmatch(r"\[([^\]]+)\](?:\(.*\))?", line)
        if m:
            section = m.group(1).strip()
            last_exten, last_prio = None, 0
            if section not in ("general", "globals"):
                dp.contexts.setdefault(section, Context(section))
            continue
        if section is None:
            raise ConfError(f"line {lineno}: entry outside a section")
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfError(f"line {lineno}: expected key = value")
        key = key.strip().lower()
        value = value.lstrip(">").strip()
        if section == "general":
            continue
        if section == "globals":
            dp.globals[line.partition("=")[0].strip()] = value
            continue
        if key == "include":
            dp.contexts[section].includes.append(value)
            continue
        if key not in ("exten", "same"):
            raise ConfError(f"line {lineno}: unknown key {key!r}")
        if key == "exten":
            exten, _, rest = value.partition(",")
            exten = exten.strip()
        else:
            if last_exten is None:
                raise ConfError(f"line {lineno}: 'same' without a preceding 'exten'")
            exten, rest = last_exten, value
        prio_txt, _, app_txt = rest.partition(",")
        prio_txt = prio_txt.strip()
        label = None
        lm = re.fullmatch(r"([^()]+)\(([^)]*)\)", prio_txt)
        if lm:
            prio_txt, label = lm.group(1).strip(), lm.group(2).strip()
        if prio_txt == "n":
            prio = (last_prio + 1) if exten == last_exten else 1
        elif prio_txt == "hint":
            continue
        else:
            try:
                prio = int(prio_txt)
            except ValueError:
                raise ConfError(f"line {lineno}: bad priority {prio_txt!r}") from None
        app, args = split_app(app_txt)
        dp.add(section, exten, prio, app, args, label)
        last_exten, last_prio = exten, prio
    return dp


# -- queues.conf ----------------------------------------------------------------


@dataclass(slots=True)
class QueueMemberConf:
    interface: str
    penalty: int = 0
    name: str = ""
    state_interface: str = ""


@dataclass(slots=True)
class QueueConf:
    name: str
    strategy: str = "ringall"
    timeout: int = 15
    retry: int = 5
    musicclass: str = "default"
    members: list[QueueMemberConf] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)


def parse_queues_conf(text: str) -> dict[str, QueueConf]:
    queues: dict[str, QueueConf] = {}
    section = None
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            section = m.group(1).strip()
            if section != "general":
                queues[section] = QueueConf(section)
            continue
        if section in (None, "general"):
            continue
        key, _, value = line.partition("=")
        key = key.strip().lower()
        value = value.lstrip(">").strip()
        q = queues[section]
        if key == "member":
            parts = [p.strip() for p in value.split(",")]
            q.members.append(
                QueueMemberConf(
                    parts[0],
                    int(parts[1]) if len(parts) > 1 and parts[1] else 0,
                    parts[2] if len(parts) > 2 else parts[0],
                    parts[3] if len(parts) > 3 else parts[0],
                )
            )
        elif key == "strategy":
            q.strategy = value
        elif key == "timeout":
            q.timeout = int(value)
        elif key == "retry":
            q.retry = int(value)
        elif key == "musicclass":
            q.musicclass = value
        else:
            q.options[key] = value
    return queues


# -- manager.conf -----------------------------------------------------------------


@dataclass(slots=True)
class ManagerUserConf:
    name: str
    secret: str = ""
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)


def parse_manager_conf(text: str) -> dict[str, ManagerUserConf]:
    """The AMI users of a ``manager.conf`` (``[general]`` is skipped)."""
    users: dict[str, ManagerUserConf] = {}
    section = None
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            section = m.group(1).strip()
            if section != "general":
                users[section] = ManagerUserConf(section)
            continue
        if section in (None, "general"):
            continue
        key, _, value = line.partition("=")
        key, value = key.strip().lower(), value.strip()
        user = users[section]
        if key == "secret":
            user.secret = value
        elif key in ("read", "write"):
            getattr(user, key).extend(c.strip().lower() for c in value.split(",") if c.strip())
    return users
