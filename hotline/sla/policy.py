"""Which time limit a ticket's stage gets: from the ticket's routing decision (its
time-limit set) and priority, as ``routing_rules.yaml`` defines them."""

from __future__ import annotations

from typing import Any, Callable

from hotline.sla.deadlines import Stage, TimeUnit

FRAMEWORK_STAGES = ("签收", "核查", "回访")
DISPOSAL = "处置"

StagePolicy = Callable[[Any, str], Stage | None]


def stage_policy_from_rules(rules) -> StagePolicy:
    """``policy(ticket, stage_name) -> Stage | None``.

    The set comes from ``ticket.routing["time_limit_set"]`` (the rule that routed it), or the
    routing fallback's set. A set may split disposal into sub-stages (违法建设: 停工/处罚/拆除);
    the workflow's 处置 clock then runs to the last of them. A stage the set does not list has
    no deadline (``None``).
    """
    fallback_set = rules.routing.fallback.time_limits

    def policy(ticket: Any, stage_name: str) -> Stage | None:
        routing = getattr(ticket, "routing", None) or {}
        set_name = routing.get("time_limit_set") or fallback_set
        limit_set = rules.time_limits.get(set_name) or rules.time_limits[fallback_set]
        from hotline.rules.schema import Priority

        try:
            priority = Priority(getattr(ticket, "priority", "normal") or "normal")
        except ValueError:
            priority = Priority.NORMAL
        stages = limit_set.for_priority(priority)
        chosen = next((s for s in stages if s.stage == stage_name), None)
        if chosen is None and stage_name == DISPOSAL:
            sub = [s for s in stages if s.stage not in FRAMEWORK_STAGES]
            chosen = sub[-1] if sub else None
        if chosen is None:
            return None
        return Stage(stage_name, float(chosen.amount), TimeUnit(chosen.unit.value))

    return policy
