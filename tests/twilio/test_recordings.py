"""Fetching a Twilio call's recording for transcription, against Twilio's media protocol played on
local ports (basic auth at the API, a redirect to storage on another origin): the credentials go to
the API only, recordings of other accounts or hosts are never requested, the size is bounded, and
each failure says whether the ticket fails (gone) or waits for the next round (Twilio unreachable)."""

from __future__ import annotations

import pytest

from hotline.calls.transcription import RecordingNotReady, RecordingTooLarge
from hotline.calls.twilio_recordings import TwilioRecordings
from twilio_support import ACCOUNT, TOKEN, TwilioRecordingHost

SID = "RE" + "1" * 32
WAV = b"RIFF" + b"\x00" * 40 + b"audio"


@pytest.fixture
def host():
    host = TwilioRecordingHost()
    yield host
    host.close()


@pytest.fixture
async def fetch(host):
    fetch = TwilioRecordings(ACCOUNT, TOKEN, base_url=host.base_url, timeout=5)
    yield fetch
    await fetch.aclose()


async def test_the_recording_is_fetched_with_credentials_at_the_api_and_without_at_storage(host, fetch):
    url = host.add(SID, WAV) + ".wav"
    assert await fetch(url) == WAV
    api, media = host.requests
    assert api == (f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{SID}.wav", True)
    assert media[0].startswith(f"/v1/{ACCOUNT}/{SID}.wav?") and media[1] is False


async def test_wrong_credentials_leave_the_ticket_waiting(host):
    url = host.add(SID, WAV) + ".wav"
    fetch = TwilioRecordings(ACCOUNT, "0" * 32, base_url=host.base_url, timeout=5)
    try:
        with pytest.raises(RecordingNotReady, match="401"):
            await fetch(url)
    finally:
        await fetch.aclose()


async def test_an_outage_leaves_the_ticket_waiting_and_a_deleted_recording_fails(host, fetch):
    url = host.add(SID, WAV) + ".wav"
    host.fail = 503
    with pytest.raises(RecordingNotReady, match="503"):
        await fetch(url)
    host.fail = None
    assert await fetch(url) == WAV
    del host.recordings[SID]
    with pytest.raises(FileNotFoundError):
        await fetch(url)


async def test_twilio_unreachable_leaves_the_ticket_waiting(host):
    url = host.add(SID, WAV) + ".wav"
    base = host.base_url
    host.close()
    fetch = TwilioRecordings(ACCOUNT, TOKEN, base_url=base, timeout=2)
    try:
        with pytest.raises(RecordingNotReady):
            await fetch(url)
    finally:
        await fetch.aclose()


@pytest.mark.parametrize("url", [
    "https://api.twilio.com/2010-04-01/Accounts/{a}/Recordings/{s}.wav",            # another host than configured
    "{b}/2010-04-01/Accounts/AC" + "b" * 32 + "/Recordings/{s}.wav",                # another account
    "{b}/2010-04-01/Accounts/{a}/Recordings/{s}.wav?redirect=http://10.0.0.1/",     # a query
    "{b}/2010-04-01/Accounts/{a}/Recordings/../../../../etc/passwd",                # not a recording path
    "{b}/2010-04-01/Accounts/{a}/Recordings/{s}.json",                              # metadata, not media
    "file:///etc/passwd",
])
async def test_urls_that_are_not_this_accounts_recordings_are_never_requested(host, fetch, url):
    host.add(SID, WAV)
    with pytest.raises(FileNotFoundError, match="not a recording of this Twilio account"):
        await fetch(url.format(a=ACCOUNT, s=SID, b=host.base_url))
    assert host.requests == []


async def test_a_recording_over_the_limit_fails_with_the_reason(host):
    url = host.add(SID, WAV + b"\x00" * 1000) + ".wav"
    fetch = TwilioRecordings(ACCOUNT, TOKEN, base_url=host.base_url, timeout=5, max_bytes=500)
    try:
        with pytest.raises(RecordingTooLarge):
            await fetch(url)
    finally:
        await fetch.aclose()


def test_credentials_and_base_url_are_required():
    with pytest.raises(ValueError, match="Account SID"):
        TwilioRecordings("", TOKEN)
    with pytest.raises(ValueError, match="base URL"):
        TwilioRecordings(ACCOUNT, TOKEN, base_url="api.twilio.com")
