"""Which PBXs the call model fits: AMI 2 or later (Asterisk 12+), told by the connection's banner.

Asterisk 11 and older (banner ``Asterisk Call Manager/1.x``) speak AMI 1: no ``Linkedid`` on most
channel events, ``Dial``/``Bridge``/``Masquerade`` instead of ``DialBegin``, ``BridgeEnter`` and
``AttendedTransfer``. The tracker would split one conversation into several calls without a word,
so it refuses such a PBX (docs/decisions/0016-call-model-on-other-pbxs.md).
"""

from __future__ import annotations

import re

__all__ = ["MIN_AMI_MAJOR", "UnsupportedAmi", "unsupported_reason"]

MIN_AMI_MAJOR = 2
_VERSION = re.compile(r"Asterisk Call Manager/(\d+)(?:\.(\d+))?", re.IGNORECASE)


class UnsupportedAmi(ValueError):
    """The PBX speaks an AMI the call model does not fit (see the module docstring)."""


def unsupported_reason(banner: str | None) -> str | None:
    """Why the call tracker cannot follow the PBX behind ``banner``, or ``None`` when it can
    (also for a banner it does not recognise: other servers speaking AMI 2)."""
    m = _VERSION.search(banner or "")
    if m is None or int(m.group(1)) >= MIN_AMI_MAJOR:
        return None
    version = m.group(1) + (f".{m.group(2)}" if m.group(2) else "")
    return (f"AMI {version} (Asterisk 11 or older, banner {banner.strip()!r}) is not supported: without "
            f"Linkedid, DialBegin and BridgeEnter one conversation would be split into several calls. "
            f"Calls are not tracked; upgrade to Asterisk 12 or later (AMI 2)")
