"""Roles of the people who use the hotline (design §3)."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    AGENT = "agent"                        # 坐席: answers calls, registers tickets
    DISPATCHER = "dispatcher"              # 派遣员: registers and dispatches cases
    DISTRICT_OFFICER = "district_officer"  # 区(旗)/街道办: works tickets of one district
    DEPARTMENT_OFFICER = "department_officer"  # 专业部门: works tickets of one department
    SUPERVISOR = "supervisor"              # 值班长: approves, verifies, closes, escalates
    ADMIN = "admin"                        # 系统管理员

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def scoped(self) -> bool:
        """Scoped roles see only the tickets of their district or department."""
        return self in (Role.DISTRICT_OFFICER, Role.DEPARTMENT_OFFICER)


ROLE_LABELS = {
    Role.AGENT: "坐席",
    Role.DISPATCHER: "派遣员",
    Role.DISTRICT_OFFICER: "区县处置人员",
    Role.DEPARTMENT_OFFICER: "部门处置人员",
    Role.SUPERVISOR: "值班长",
    Role.ADMIN: "系统管理员",
}
