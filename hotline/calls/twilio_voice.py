"""Twilio voice webhooks (``/twilio/voice/…``): the IVR of :mod:`ivr.twilio` served over HTTP.

Twilio is not a logged-in user: every request is authenticated by its ``X-Twilio-Signature``
(twilio's ``RequestValidator`` with the account's auth token) on the public URL Twilio called —
``HOTLINE_TWILIO_PUBLIC_URL`` when set, else the request URL as rebuilt from a reverse proxy's
``X-Forwarded-*`` / ``Forwarded`` headers. An unsigned or wrongly signed request gets 403 and
changes nothing; a replayed one gets the same TwiML as the first time and changes nothing either.
Enabled with ``HOTLINE_TWILIO_VOICE=true``; otherwise every path answers 404.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ivr.api import public_url

log = logging.getLogger(__name__)

__all__ = ["router"]

router = APIRouter(prefix="/twilio/voice", include_in_schema=False)

_XML = "application/xml"


def _twilio(request: Request) -> Any:
    svc = request.app.state.hotline.telephony_service()
    return getattr(svc, "twilio", None) if svc is not None else None


def _plain(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain; charset=utf-8")


@router.post("/{path:path}")
async def webhook(request: Request, path: str) -> Response:
    hooks = _twilio(request)
    if hooks is None:
        return _plain(404, "Twilio voice is not enabled (HOTLINE_TWILIO_VOICE)")
    form = await request.form()
    params = {k: str(v) for k, v in form.multi_items()}
    url = public_url(str(request.url), request.headers, public_base=hooks.public_base)
    if not hooks.check.valid(url, params, request.headers.get("x-twilio-signature", "")):
        log.warning("twilio: refused %s from %s: signature missing or not valid for %s", path,
                    request.client.host if request.client else "?", url)
        return _plain(403, "invalid Twilio signature")
    query = dict(request.query_params)
    voice = hooks.voice
    parts = path.strip("/").split("/")
    try:
        if len(parts) == 2 and parts[0] == "agent":
            return Response(voice.agent_dequeue(parts[1], params.get("From", "")), media_type=_XML)
        if len(parts) == 3 and parts[0] == "queue" and parts[2] == "bridged":
            return Response(voice.queue_bridged(params.get("CallSid", ""), parts[1], query.get("agent", ""), params),
                            media_type=_XML)
        return Response(await voice.handle(path, params, query), media_type=_XML)
    except LookupError as exc:
        return _plain(404, str(exc))
    except ValueError as exc:
        return _plain(400, str(exc))
