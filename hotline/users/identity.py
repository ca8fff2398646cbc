"""Who is logged in: the user id, role and scope every request acts with."""

from __future__ import annotations

from dataclasses import dataclass

from hotline.privacy import FULL_NUMBER_ROLES
from hotline.users.models import User
from hotline.users.roles import Role

__all__ = ["CurrentUser"]


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: int
    username: str
    display_name: str
    role: Role
    district_code: str | None
    department_code: str | None

    @classmethod
    def of(cls, user: User) -> "CurrentUser":
        return cls(user.id, user.username, user.display_name, Role(user.role),
                   user.district_code, user.department_code)

    @property
    def sees_full_numbers(self) -> bool:
        """Agents and supervisors call citizens back; everyone else sees masked numbers."""
        return self.role in FULL_NUMBER_ROLES
