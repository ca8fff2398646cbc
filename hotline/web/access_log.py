"""The web server's access log without citizens' numbers or secrets (security standard: caller
numbers never in logs).

An outside test found full caller numbers in access-log lines (``/api/callers/{phone}/history``,
``?q=13800001234``) and an Open311 ``api_key`` passed in the URL. :class:`PrivateAccessLog`
rewrites each uvicorn access line before it is written: mobile and landline numbers in the
path or query become ``138****1234``, the values of secret parameters become ``***``.
"""

from __future__ import annotations

import copy
import logging
import re
from urllib.parse import quote, unquote

from hotline.privacy import mask_phone

__all__ = ["PrivateAccessLog", "scrub_target", "uvicorn_log_config"]

SECRET_PARAMS = frozenset({"api_key", "password", "token", "csrf_token", "secret"})
# a mobile (1[3-9] + 9 digits, optional +86) or a landline with area code, not inside a longer
# number (ticket numbers and call ids are not phone numbers)
_PHONE = re.compile(r"(?<![\d.])(?:(?:\+?86)?1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?![\d.])")
_SECRET = re.compile(r"(?i)(^|[?&])(" + "|".join(sorted(SECRET_PARAMS)) + r")=[^&]*")


def scrub_target(target: str) -> str:
    """A request path with query, as it may be logged."""
    text = unquote(target)
    text = _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}=***", text)
    text = _PHONE.sub(lambda m: mask_phone(m.group(0)), text)
    return quote(text, safe="/?&=:;,.-_*~+@!$'()%#[]")


class PrivateAccessLog(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = args[:2] + (scrub_target(args[2]),) + args[3:]
        return True


def uvicorn_log_config() -> dict:
    """uvicorn's logging configuration with the private access-log filter."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["private"] = {"()": PrivateAccessLog}
    config["handlers"]["access"]["filters"] = ["private"]
    return config
