"""The Twilio webhooks over HTTP with a running telephony service and database: signatures (valid,
invalid, missing, proxied, public URL) and a Twilio call stored as the same Call record an Asterisk
call through the same menu gives."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from hotline.calls.models import Call
from hotline.calls.service import get_call
from hotline.calls.twilio_voice import router
from hotline.cases.models import Ticket
from hotline.config import Settings
from hotline.telephony import TelephonyService
from ivr.simulator import CallerScript, Endpoint
from twilio_support import TOKEN, new_sid, params, sign

OPEN_AT = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)      # 10:00 local
CLOSED_AT = datetime(2026, 12, 7, 14, 0, tzinfo=timezone.utc)   # 22:00 local


class _State:
    def __init__(self, svc):
        self.svc = svc

    def telephony_service(self):
        return self.svc


@pytest.fixture
def service(db_factory, tmp_path, request):
    async def start(at=OPEN_AT, **extra):
        settings = Settings(var_dir=tmp_path, demo_call_rate=0, ami_host="", agi_port=0, session_secret="s" * 40,
                            twilio_voice=True, twilio_auth_token=TOKEN, **extra)
        svc = TelephonyService(settings, db_factory, sim_speed=60, clock=lambda: at,
                               sim_agents=(("agents", "PJSIP/agent-1001", "坐席1001"),))
        await svc.start()
        return svc
    return start


def client(svc) -> httpx.AsyncClient:
    app = FastAPI()
    app.state.hotline = _State(svc)
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000")


async def post(c, path, data, *, signed_for=None, headers=None, signature=None):
    url = f"http://127.0.0.1:8000/twilio/voice/{path}"
    sig = signature if signature is not None else sign(signed_for or url, data)
    return await c.post(url, data=data, headers={"X-Twilio-Signature": sig, **(headers or {})})


async def stored(svc, db_factory, call_id):
    for _ in range(500):
        await svc.bus.drain()
        with db_factory() as s:
            row = get_call(s, call_id)
            if row is not None and row.ended_at is not None:
                s.expunge(row)
                return row
        await asyncio.sleep(0.02)
    raise AssertionError(f"call {call_id} not stored")


def calls(db_factory) -> int:
    with db_factory() as s:
        return s.scalar(select(func.count()).select_from(Call))


async def test_unsigned_forged_and_misdirected_requests_get_403_and_change_nothing(service, db_factory):
    svc = await service()
    try:
        async with client(svc) as c:
            sid = new_sid()
            data = params(sid)
            assert (await post(c, "incoming", data, signature="")).status_code == 403
            assert (await post(c, "incoming", data, signature=sign("http://127.0.0.1:8000/twilio/voice/incoming",
                                                                   data, token="0" * 32))).status_code == 403
            assert (await post(c, "incoming", data, signed_for="http://127.0.0.1:8000/twilio/voice/status")
                    ).status_code == 403
            tampered = dict(data, From="+8613800000000")
            assert (await post(c, "incoming", tampered, signature=sign(
                "http://127.0.0.1:8000/twilio/voice/incoming", data))).status_code == 403
            await svc.bus.drain()
            assert not svc.tracker.is_live(sid) and calls(db_factory) == 0
            ok = await post(c, "incoming", data)
            assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/xml")
            assert svc.tracker.is_live(sid)
    finally:
        await svc.stop()


async def test_behind_a_proxy_the_public_url_is_rebuilt(service):
    svc = await service()
    try:
        async with client(svc) as c:
            public = "https://hotline.example.gov.cn/twilio/voice/incoming"
            proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hotline.example.gov.cn"}
            data = params(new_sid())
            assert (await post(c, "incoming", data, signed_for=public, headers=proxy)).status_code == 200
            data = params(new_sid())
            rfc = {"Forwarded": 'for=10.0.0.1;proto=https;host="hotline.example.gov.cn"'}
            assert (await post(c, "incoming", data, signed_for=public, headers=rfc)).status_code == 200
            data = params(new_sid())
            assert (await post(c, "incoming", data, signed_for=public)).status_code == 403   # no proxy headers
    finally:
        await svc.stop()


async def test_the_configured_public_url_wins(service):
    svc = await service(twilio_public_url="https://ivr.example.gov.cn/hotline")
    try:
        async with client(svc) as c:
            data = params(new_sid())
            assert (await post(c, "incoming", data,
                               signed_for="https://ivr.example.gov.cn/hotline/twilio/voice/incoming")).status_code == 200
            data = params(new_sid())
            assert (await post(c, "incoming", data)).status_code == 403
    finally:
        await svc.stop()


async def test_a_twilio_call_is_stored_like_an_asterisk_call(service, db_factory):
    svc = await service()
    try:
        svc.simulator.add_endpoint("agent-1001", Endpoint("answer", answer_after=1, talk_time=5))
        # Asterisk: main menu key 1 (反映问题), an agent answers
        handle = await svc.simulator.place_call(caller="13904760000", dialed="12319", script=CallerScript()
                                                .until_app("Background").wait(1).press("1").wait(60))
        await handle.wait_ended(90)
        ami = await stored(svc, db_factory, handle.linkedid)
        # Twilio: the same choice, an agent takes the caller from the queue, the caller hangs up
        sid = new_sid()
        async with client(svc) as c:
            assert (await post(c, "incoming", params(sid))).status_code == 200
            assert (await post(c, "menu/main", params(sid))).status_code == 200
            r = await post(c, "menu/main/choice?invalid=0&timeouts=0", params(sid, Digits="1"))
            assert "<Enqueue" in r.text
            assert (await post(c, "queue/agents/bridged?agent=client%3Awangfang",
                               params(sid, QueueTime="4"))).status_code == 200
            assert (await post(c, "queue/agents/done", params(sid, QueueResult="bridged", QueueTime="4"))
                    ).status_code == 200
            assert (await post(c, "status", params(sid, status="completed", CallDuration="60"))).status_code == 200
        tw = await stored(svc, db_factory, sid)

        def menu_steps(row):
            return [(s["menu"], s["kind"], s["value"]) for s in row.ivr_path
                    if s["menu"].startswith("hl12319-menu-") and s["kind"] in ("enter", "choice")]

        assert menu_steps(tw) == menu_steps(ami) == [("hl12319-menu-main", "enter", ""),
                                                     ("hl12319-menu-main", "choice", "1")]
        assert (tw.disposition, tw.queue) == (ami.disposition, ami.queue) == ("agent", "agents")
        assert tw.agent == "client:wangfang" and tw.queue_wait_s == 4.0
        assert tw.caller == "+8613904760000" and tw.answered_at is not None and tw.agent_answered_at is not None
    finally:
        await svc.stop()


async def test_a_twilio_message_after_hours_becomes_a_ticket_waiting_for_its_transcript(service, db_factory):
    svc = await service(at=CLOSED_AT)
    try:
        sid = new_sid()
        url = f"https://api.twilio.com/2010-04-01/Accounts/AC{'a' * 32}/Recordings/RE{'2' * 32}"
        async with client(svc) as c:
            r = await post(c, "incoming", params(sid))
            assert "<Record" in r.text
            await post(c, "message/after_hours/done", params(sid, RecordingUrl=url, RecordingDuration="9"))
            await post(c, "status", params(sid, status="completed"))
        row = await stored(svc, db_factory, sid)
        assert row.disposition == "voicemail" and row.recordings == [url + ".wav"]
        for _ in range(200):
            with db_factory() as s:
                ticket = s.scalars(select(Ticket).where(Ticket.call_id == row.id)).first()
            if ticket is not None:
                break
            await asyncio.sleep(0.02)
        assert ticket is not None and ticket.transcript_status == "pending"
    finally:
        await svc.stop()


async def test_twilio_calls_survive_an_ami_resync(service):
    svc = await service()
    try:
        sid = new_sid()
        async with client(svc) as c:
            await post(c, "incoming", params(sid))
        svc.tracker.begin_resync()
        svc.tracker.end_resync()          # the PBX lists none of Twilio's channels
        assert svc.tracker.is_live(sid)
    finally:
        await svc.stop()
