"""Open311 API keys: from ``HOTLINE_OPEN311_API_KEYS`` (comma-separated), never from code.

Keys are compared in constant time. A key is identified in ticket events only by a short
SHA-256 fingerprint, so the secret itself is never written to the database or logs.
"""

from __future__ import annotations

import hashlib
import hmac
import os

ENV_VAR = "HOTLINE_OPEN311_API_KEYS"
MIN_LENGTH = 16


def configured_keys() -> tuple[str, ...]:
    """The keys now configured (re-read on each call, so a rotation needs no restart).

    Keys shorter than ``MIN_LENGTH`` characters are ignored: a guessable key is no key.
    """
    raw = os.environ.get(ENV_VAR, "")
    return tuple(k for k in (part.strip() for part in raw.split(",")) if len(k) >= MIN_LENGTH)


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def check_key(key: str | None) -> str | None:
    """The fingerprint of ``key`` when it is configured, else ``None``."""
    if not key:
        return None
    given = key.strip().encode("utf-8")
    ok = False
    for candidate in configured_keys():
        ok |= hmac.compare_digest(given, candidate.encode("utf-8"))
    return fingerprint(key.strip()) if ok else None
