"""The messages callers leave on Twilio calls, fetched for transcription.

Twilio's ``<Record>`` action reports ``RecordingUrl``
(``https://api.twilio.com/2010-04-01/Accounts/AC…/Recordings/RE…``); the call stores it with
``.wav`` appended (:mod:`ivr.twilio`). Reading the media takes the account's credentials (HTTP basic
authentication with the Account SID and auth token, Twilio's default for recording media).
:class:`TwilioRecordings` is the ``fetch`` of :class:`hotline.calls.transcription.TranscriptionWorker`:

* only recordings of the configured account on the configured API host are fetched, so a URL in a
  stored call can never make the server send its credentials elsewhere or reach another address;
* a redirect (to Twilio's media storage) is followed without the credentials (httpx drops the
  ``Authorization`` header when the origin changes), at most three times;
* the body is bounded (``max_bytes``: a 10-minute 8 kHz message is under 10 MB);
* a recording Twilio no longer has (404, deleted) raises ``FileNotFoundError``: the transcript fails
  with the reason; anything that may pass (bad credentials, 429, 5xx, a timeout, no network) raises
  :class:`~hotline.calls.transcription.RecordingNotReady`: the ticket stays pending for the next round.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from hotline.calls.transcription import RecordingNotReady, RecordingTooLarge

__all__ = ["TwilioRecordings"]

_PATH = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Recordings/RE[0-9a-fA-F]{32}\.(wav|mp3)")


class TwilioRecordings:
    def __init__(self, account_sid: str, auth_token: str, *, base_url: str = "https://api.twilio.com",
                 timeout: float = 30.0, max_bytes: int = 20_000_000, transport: httpx.AsyncBaseTransport | None = None):
        if not account_sid or not auth_token:
            raise ValueError("Twilio recordings need the Account SID and the auth token")
        base = urlsplit(base_url)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(f"Twilio API base URL {base_url!r}: expected https://host")
        self.account_sid, self.max_bytes = account_sid, max_bytes
        self._origin = (base.scheme, base.netloc.lower())
        self._client = httpx.AsyncClient(auth=(account_sid, auth_token), timeout=timeout, follow_redirects=True,
                                         max_redirects=3, transport=transport)

    def accepts(self, url: str) -> bool:
        """Whether ``url`` is a recording of this account on the configured API host."""
        parts = urlsplit(url)
        match = _PATH.fullmatch(parts.path)
        return ((parts.scheme, parts.netloc.lower()) == self._origin and not parts.query and match is not None
                and match.group(1) == self.account_sid)

    async def __call__(self, url: str) -> bytes:
        if not self.accepts(url):
            raise FileNotFoundError(f"{url}: not a recording of this Twilio account")
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code in (404, 410):
                    raise FileNotFoundError(f"{url}: Twilio answered {response.status_code}")
                if response.status_code != 200:
                    raise RecordingNotReady(f"Twilio answered {response.status_code} for a recording")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise RecordingTooLarge(f"recording of {declared} bytes is over the {self.max_bytes}-byte limit")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise RecordingTooLarge(f"recording over the {self.max_bytes}-byte limit")
                return bytes(body)
        except httpx.TooManyRedirects as exc:
            raise RecordingNotReady(f"too many redirects fetching a recording: {exc}") from None
        except httpx.HTTPError as exc:
            raise RecordingNotReady(f"recording not fetched: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        await self._client.aclose()
