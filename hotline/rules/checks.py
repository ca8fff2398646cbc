"""Cross-reference checks on a structurally valid :class:`Rules`.

Each problem is returned as ``(path, message)``; the loader turns paths into line numbers.
``categories`` (5-digit codes) and ``units`` (6-digit district and 9-digit street codes) are
optional outside knowledge; without them only the file's internal references are checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ivr.api import MenuAction

from .issues import Path
from .schema import Rules

Problem = tuple[Path, str]


def check_references(rules: Rules, *, categories: set[str] | None = None,
                     units: set[str] | None = None) -> list[Problem]:
    checks = (_districts(rules, units), _departments(rules), _routing(rules, categories, units),
              _queues(rules), _ivr(rules), _sla(rules))
    return [problem for check in checks for problem in check]


def _duplicates(items: Iterable[tuple[Path, str]], what: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for path, key in items:
        if key in seen:
            yield path, f"duplicate {what} {key!r}"
        seen.add(key)


def _districts(rules: Rules, units: set[str] | None) -> Iterator[Problem]:
    yield from _duplicates(((("districts", i, "code"), d.code) for i, d in enumerate(rules.districts)),
                           "district code")
    yield from _duplicates(((("districts", i, "menu_digit"), d.menu_digit)
                            for i, d in enumerate(rules.districts) if d.menu_digit), "district menu digit")
    if units is not None:
        for i, d in enumerate(rules.districts):
            if d.code not in units:
                yield ("districts", i, "code"), f"unknown district code {d.code!r}"


def _departments(rules: Rules) -> Iterator[Problem]:
    yield from _duplicates(((("departments", i, "code"), d.code) for i, d in enumerate(rules.departments)),
                           "department code")
    parents = {d.code: d.parent for d in rules.departments}
    for i, d in enumerate(rules.departments):
        base = ("departments", i)
        if d.district is not None and rules.district(d.district) is None:
            yield base + ("district",), f"district {d.district!r} is not defined in 'districts'"
        if d.parent is None:
            continue
        if d.parent not in parents:
            yield base + ("parent",), f"department {d.parent!r} is not defined"
            continue
        chain, code = [d.code], d.parent
        while code is not None and code not in chain:
            chain.append(code)
            code = parents.get(code)
        if code == d.code:
            yield base + ("parent",), "parent chain loops back: " + " → ".join(chain + [code])


def _department_ref(rules: Rules, path: Path, code: str) -> Iterator[Problem]:
    if rules.department(code) is None:
        yield path, f"department {code!r} is not defined in 'departments'"


def _time_limit_ref(rules: Rules, path: Path, name: str) -> Iterator[Problem]:
    if name not in rules.time_limits:
        yield path, f"time-limit set {name!r} is not defined in 'time_limits'"


def _place_refs(rules: Rules, path: Path, district: str | None, street: str | None,
                units: set[str] | None) -> Iterator[Problem]:
    if district is not None:
        if rules.district(district) is None:
            yield path, f"district {district!r} is not defined in 'districts'"
        elif units is not None and district not in units:
            yield path, f"unknown district code {district!r}"
    if street is not None:
        if units is not None and street not in units:
            yield path, f"unknown street code {street!r}"
        elif rules.district(street[:6]) is None:
            yield path, f"street {street!r} lies in district {street[:6]!r}, which is not defined in 'districts'"


def _routing(rules: Rules, categories: set[str] | None, units: set[str] | None) -> Iterator[Problem]:
    yield from _duplicates(((("routing", "rules", i, "id"), r.id) for i, r in enumerate(rules.routing.rules)),
                           "rule id")
    for i, rule in enumerate(rules.routing.rules):
        base = ("routing", "rules", i)
        yield from _department_ref(rules, base + ("department",), rule.department)
        yield from _time_limit_ref(rules, base + ("time_limits",), rule.time_limits)
        yield from _place_refs(rules, base + ("street",), None, rule.street, units)
        m = rule.match
        for j, code in enumerate(m.category):
            if categories is not None and code not in categories:
                yield base + ("match", "category", j), f"unknown category code {code!r}"
        for j, prefix in enumerate(m.category_prefix):
            if categories is not None and not any(c.startswith(prefix) for c in categories):
                yield base + ("match", "category_prefix", j), f"no category code starts with {prefix!r}"
        for j, code in enumerate(m.districts):
            yield from _place_refs(rules, base + ("match", "districts", j), code, None, units)
        for j, code in enumerate(m.streets):
            yield from _place_refs(rules, base + ("match", "streets", j), None, code, units)
    fallback = ("routing", "fallback")
    yield from _department_ref(rules, fallback + ("department",), rules.routing.fallback.department)
    yield from _time_limit_ref(rules, fallback + ("time_limits",), rules.routing.fallback.time_limits)


def _queues(rules: Rules) -> Iterator[Problem]:
    yield from _duplicates(((("queues", i, "id"), q.id) for i, q in enumerate(rules.queues)), "queue id")


def _queue_ref(rules: Rules, path: Path, queue_id: str) -> Iterator[Problem]:
    if rules.queue(queue_id) is None:
        yield path, f"queue {queue_id!r} is not defined in 'queues'"


_NEEDS = {MenuAction.SUBMENU: "menu", MenuAction.QUEUE: "queue", MenuAction.DISTRICT_TRANSFER: "district"}


def _ivr(rules: Rules) -> Iterator[Problem]:
    ivr = rules.ivr
    yield from _duplicates(((("ivr", "menus", i, "id"), m.id) for i, m in enumerate(ivr.menus)), "menu id")
    yield from _queue_ref(rules, ("ivr", "agent_queue"), ivr.agent_queue)
    yield from _queue_ref(rules, ("ivr", "transfer_failed", "queue"), ivr.transfer_failed.queue)
    if rules.menu(ivr.entry) is None:
        yield ("ivr", "entry"), f"menu {ivr.entry!r} is not defined in 'ivr.menus'"
    for i, menu in enumerate(ivr.menus):
        base = ("ivr", "menus", i)
        yield from _duplicates(((base + ("options", j, "digit"), o.digit) for j, o in enumerate(menu.options)),
                               "digit")
        yield from _duplicates(((base + ("options", j, "keywords", k), w)
                                for j, o in enumerate(menu.options) for k, w in enumerate(o.keywords)),
                               "spoken keyword")
        zero = [o for o in menu.options if o.digit == "0"]
        if not zero:
            yield base + ("options",), f"menu {menu.id!r} has no option '0'; 0 must lead to an agent in every menu"
        for j, opt in enumerate(menu.options):
            path = base + ("options", j)
            yield from _option(rules, path, opt)
            if opt.digit == "0" and not (opt.action is MenuAction.QUEUE and opt.queue == ivr.agent_queue):
                yield path + ("action",), f"option '0' must be action 'queue' to the agent queue {ivr.agent_queue!r}"
    yield from _menu_graph(rules)


def _option(rules: Rules, path: Path, opt) -> Iterator[Problem]:
    needed = _NEEDS.get(opt.action)
    for field in ("menu", "queue", "district"):
        given = getattr(opt, field) is not None
        if field == needed and not given:
            yield path, f"action {opt.action.value!r} needs '{field}'"
        elif field != needed and given:
            yield path + (field,), f"'{field}' does not apply to action {opt.action.value!r}"
    if opt.action is MenuAction.SUBMENU and opt.menu is not None and rules.menu(opt.menu) is None:
        yield path + ("menu",), f"menu {opt.menu!r} is not defined in 'ivr.menus'"
    if opt.action is MenuAction.QUEUE and opt.queue is not None:
        yield from _queue_ref(rules, path + ("queue",), opt.queue)
    if opt.action is MenuAction.DISTRICT_TRANSFER and opt.district is not None:
        district = rules.district(opt.district)
        if district is None:
            yield path + ("district",), f"district {opt.district!r} is not defined in 'districts'"
        elif district.menu_digit and district.menu_digit != opt.digit:
            yield path + ("digit",), (f"district {district.name} has menu_digit {district.menu_digit!r} "
                                      f"in 'districts' but is offered on {opt.digit!r}")


def _menu_graph(rules: Rules) -> Iterator[Problem]:
    """Submenu links must form a tree below the entry menu: no cycles, nothing unreachable."""
    index = {m.id: i for i, m in enumerate(rules.ivr.menus)}
    edges = {m.id: [(j, o.menu) for j, o in enumerate(m.options)
                    if o.action is MenuAction.SUBMENU and o.menu in index] for m in rules.ivr.menus}
    done: set[str] = set()

    def visit(trail: list[str]) -> Iterator[Problem]:
        """Depth-first; an edge back into the current trail closes a cycle."""
        menu_id = trail[-1]
        for j, target in edges[menu_id]:
            if target in trail:
                loop = trail[trail.index(target):] + [target]
                yield (("ivr", "menus", index[menu_id], "options", j, "menu"),
                       "submenu cycle: " + " → ".join(loop))
            elif target not in done:
                yield from visit(trail + [target])
        done.add(menu_id)

    entry = rules.ivr.entry
    if entry in index:
        yield from visit([entry])
        for menu_id, i in index.items():
            if menu_id not in done:
                yield ("ivr", "menus", i, "id"), f"menu {menu_id!r} cannot be reached from entry menu {entry!r}"
    for menu_id in index:
        if menu_id not in done:
            yield from visit([menu_id])


def _sla(rules: Rules) -> Iterator[Problem]:
    for i, level in enumerate(rules.sla.escalation):
        path = ("sla", "escalation", i)
        if level.level != i + 1:
            yield path + ("level",), f"escalation levels must be numbered 1, 2, 3 … in order; expected {i + 1}"
        if i and level.after_deadline.unit is rules.sla.escalation[i - 1].after_deadline.unit \
                and level.after_deadline.amount <= rules.sla.escalation[i - 1].after_deadline.amount:
            yield path + ("after_deadline", "amount"), "each escalation level must come later than the previous one"
        for j, code in enumerate(level.notify_departments):
            yield from _department_ref(rules, path + ("notify_departments", j), code)
