"""Masking of citizens' phone numbers for roles that do not need the full number (design §3)."""

from __future__ import annotations

import re

from hotline.users.roles import Role

__all__ = ["mask_phone", "caller_number_for", "FULL_NUMBER_ROLES"]

# Roles that talk to the caller (受理, 回访) or supervise; everyone else sees the masked number.
FULL_NUMBER_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})

_MOBILE = re.compile(r"^(\+?86)?(1\d{10})$")
_LANDLINE = re.compile(r"^(0\d{2,3})([-\s]?)(\d{5,8})$")
# Area codes with three digits: 010 (Beijing) and 02x; all others (e.g. 0476 Chifeng) have four.
_THREE_DIGIT_AREA = re.compile(r"^0(10|2\d)")


def _keep_last(digits: str, keep: int = 4) -> str:
    if len(digits) <= keep:
        return "*" * len(digits)
    return "*" * (len(digits) - keep) + digits[-keep:]


def mask_phone(phone: str | None) -> str:
    """``13800001234`` → ``138****1234``; ``0476-8888123`` → ``0476-***8123``.

    Short numbers (≤ 4 digits) are masked entirely; caller IDs without digits
    (``anonymous``) are returned unchanged; anything else keeps only its last four digits.
    """
    if phone is None:
        return ""
    text = phone.strip()
    if not any(ch.isdigit() for ch in text):
        return text
    compact = re.sub(r"[\s()]", "", text)
    m = _MOBILE.match(compact)
    if m:
        prefix, number = m.group(1) or "", m.group(2)
        return f"{prefix}{number[:3]}****{number[-4:]}"
    m = _LANDLINE.match(text) or _LANDLINE.match(compact)
    if m:
        area, sep, local = m.groups()
        if not sep and len(area) == 4 and _THREE_DIGIT_AREA.match(area):
            area, local = area[:3], area[3:] + local
        return f"{area}{sep}{_keep_last(local)}"
    total = sum(ch.isdigit() for ch in compact)
    keep_from = total - 4 if total > 4 else total  # index of the first digit left visible
    out, index = [], 0
    for ch in compact:
        if ch.isdigit():
            out.append(ch if index >= keep_from else "*")
            index += 1
        else:
            out.append(ch)
    return "".join(out)


def caller_number_for(role: Role, phone: str | None) -> str:
    """The caller's number as ``role`` may see it."""
    if role in FULL_NUMBER_ROLES:
        return phone or ""
    return mask_phone(phone)
