"""Phone-number masking (hotline.privacy)."""

from __future__ import annotations

import pytest

from hotline.privacy import caller_number_for, mask_phone
from hotline.users.roles import Role


@pytest.mark.parametrize("phone, masked", [
    ("13800001234", "138****1234"),
    ("+8613800001234", "+86138****1234"),
    ("138 0000 1234", "138****1234"),
    ("0476-8888123", "0476-***8123"),
    ("04768888123", "0476***8123"),
    ("010-12345678", "010-****5678"),
    ("02187654321", "021****4321"),
    ("8888123", "***8123"),
    ("12319", "*2319"),
    ("110", "***"),
    ("", ""),
    (None, ""),
    ("anonymous", "anonymous"),
    ("+1 415 555 0100", "+*******0100"),
])
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


def test_masked_numbers_keep_only_the_last_four_subscriber_digits():
    for phone, area in (("13812345678", "138"), ("0476-8765432", "0476-"), ("04768765432", "0476")):
        masked = mask_phone(phone)
        assert masked.startswith(area) and masked.endswith(phone[-4:])
        middle = masked[len(area):-4]
        assert middle and set(middle) == {"*"}
        assert len(masked) == len(phone)


@pytest.mark.parametrize("role, shown", [
    (Role.AGENT, "13800001234"), (Role.SUPERVISOR, "13800001234"), (Role.ADMIN, "13800001234"),
    (Role.DISPATCHER, "138****1234"), (Role.DISTRICT_OFFICER, "138****1234"),
    (Role.DEPARTMENT_OFFICER, "138****1234"),
])
def test_caller_number_for_role(role, shown):
    assert caller_number_for(role, "13800001234") == shown
