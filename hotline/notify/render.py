"""SMS texts from Jinja2 templates (``hotline/notify/templates/<name>.txt.j2``).

Templates are rendered with :class:`jinja2.StrictUndefined`: a field the caller forgot
is a :class:`MissingField` error naming the template and the field, never an empty
string in a message sent to a citizen. Lines of a template are joined without
separators (Chinese needs no spaces), so templates stay readable in the source.

Length: a text that fits the GSM 7-bit alphabet is 160 characters in one SMS and 153
per part when concatenated; anything else (every Chinese text) is UCS-2, 70 characters
in one SMS and 67 per part. :func:`render` logs a warning above ``max_segments``.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo

import jinja2

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
SUFFIX = ".txt.j2"
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_MAX_SEGMENTS = 2

# GSM 03.38 basic character set and its extension table (extension chars cost 2 septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


class RenderError(ValueError):
    """A template could not be rendered (unknown template, missing field, bad value)."""


class UnknownTemplate(RenderError):
    pass


class MissingField(RenderError):
    pass


def sms_encoding(text: str) -> str:
    """``"GSM-7"`` when every character is in the GSM alphabet, else ``"UCS-2"``."""
    return "GSM-7" if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text) else "UCS-2"


def sms_length(text: str) -> int:
    """Length in the unit the network counts: septets (GSM-7) or UTF-16 code units (UCS-2)."""
    if sms_encoding(text) == "GSM-7":
        return sum(2 if c in _GSM_EXTENDED else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> int:
    """Number of SMS parts the text is sent as (0 for an empty text)."""
    n = sms_length(text)
    if n == 0:
        return 0
    single, part = (160, 153) if sms_encoding(text) == "GSM-7" else (70, 67)
    return 1 if n <= single else math.ceil(n / part)


# -- filters ---------------------------------------------------------------------------

def _clip(value: Any, limit: int) -> str:
    """Cut free text (a result summary, an address) to ``limit`` characters with an ellipsis."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@jinja2.pass_context
def _cn_time(ctx: jinja2.runtime.Context, value: Any) -> str:
    """``11月28日17:00`` in the hotline's time zone (``Asia/Shanghai`` unless
    :func:`render` got ``tz``); aware datetimes only."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing field
    if not isinstance(value, datetime):
        raise RenderError(f"expected a datetime, got {type(value).__name__}: {value!r}")
    if value.tzinfo is None:
        raise RenderError(f"naive datetime {value!r}: give an aware one (UTC or local)")
    local = value.astimezone(ctx.get("_tz") or DEFAULT_TZ)
    return f"{local.month}月{local.day}日{local:%H:%M}"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text, never HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["clip"] = _clip
    env.filters["cn_time"] = _cn_time
    return env


def template_names() -> list[str]:
    """Names of every available SMS template (without the ``.txt.j2`` suffix)."""
    return sorted(p.name[: -len(SUFFIX)] for p in TEMPLATE_DIR.glob(f"*{SUFFIX}"))


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
    tz: ZoneInfo | None = None,
) -> str:
    """Render SMS template ``template`` with ``context``.

    Raises :class:`UnknownTemplate` for a name that has no file and :class:`MissingField`
    when the context lacks a field the template uses. Logs a warning when the text is
    longer than ``max_segments`` SMS parts (it is still returned: the carrier joins
    the parts, the cost is the concern).
    """
    if not template or "/" in template or "\\" in template or template.startswith("."):
        raise UnknownTemplate(f"invalid SMS template name {template!r}")
    env = _environment()
    try:
        tpl = env.get_template(template + SUFFIX)
    except jinja2.TemplateNotFound:
        raise UnknownTemplate(
            f"no SMS template {template!r} (available: {', '.join(template_names())})"
        ) from None
    ctx = dict(context)
    ctx["_tz"] = tz or DEFAULT_TZ
    try:
        raw = tpl.render(ctx)
    except jinja2.UndefinedError as exc:
        raise MissingField(f"SMS template {template!r} needs a field that is missing: {exc.message}") from None
    except RenderError as exc:
        raise RenderError(f"SMS template {template!r}: {exc}") from None
    body = "".join(line.strip() for line in raw.splitlines())
    segments = sms_segments(body)
    if segments > max_segments:
        log.warning(
            "SMS template %r renders to %d characters = %d segments (limit %d)",
            template, sms_length(body), segments, max_segments,
        )
    return body
