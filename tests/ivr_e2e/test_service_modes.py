"""``TelephonyService`` as ``hotline serve`` starts it: demo traffic walking the real IVR in
simulator mode, and the Asterisk mode (an external PBX over AMI calling our FastAGI server)."""

from __future__ import annotations

import asyncio
import socket

from ivr_e2e_support import OPEN_AT, steps
from sqlalchemy import func, select

from hotline.calls.models import Call
from hotline.config import Settings
from hotline.telephony import TelephonyService
from ivr.dialplan import render_dialplan
from ivr.flow import flow_from_rules
from ivr.simulator import CallerScript, Endpoint, PbxSimulator


async def test_demo_callers_walk_the_real_menu(db_factory, tmp_path, shipped_rules):
    settings = Settings(var_dir=tmp_path, demo_call_rate=5.0, ami_host="", agi_port=0)
    svc = TelephonyService(settings, db_factory, sim_speed=30.0, demo_seed=3, rules=shipped_rules,
                           clock=lambda: OPEN_AT)
    await svc.start()
    try:
        for _ in range(600):
            await asyncio.sleep(0.1)
            with db_factory() as s:
                ended = s.scalar(select(func.count()).select_from(Call).where(Call.ended_at.is_not(None)))
            if ended >= 12:
                break
    finally:
        await svc.stop()
    with db_factory() as s:
        calls = list(s.scalars(select(Call).where(Call.ended_at.is_not(None))))
    assert len(calls) >= 12
    choices = {v for c in calls for m, k, v in steps(c) if m == "hl12319-menu-main" and k == "choice"}
    assert choices & {"0", "1", "2", "3", "9"}, choices
    # the backend decided the hours for every call that got that far (stop() also hangs up calls
    # still between caller_lookup and business_hours)
    asked = [c for c in calls if any(s["kind"] == "agi" and s["value"].endswith("/business_hours") for s in c.ivr_path)]
    assert asked and all(c.variables.get("HOTLINE_OPEN") == "1" for c in asked)
    assert all(c.variables.get("HOTLINE_OPEN") == "1" for c in calls if any(
        s["menu"] == "hl12319-menu-main" for s in c.ivr_path))
    assert any(c.disposition == "agent" for c in calls)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_asterisk_mode_serves_the_pbx_agi_and_follows_its_calls(db_factory, tmp_path, shipped_rules):
    """An external PBX (the simulator standing in for Asterisk) runs the rendered dialplan and
    calls our FastAGI server on the configured port; the controller follows it over AMI."""
    agi_port = _free_port()
    out = tmp_path / "dialplan"
    render_dialplan(flow_from_rules(shipped_rules), out_dir=out, agi_host="127.0.0.1", agi_port=agi_port)
    async with PbxSimulator(ami_port=0, agi_address=("127.0.0.1", agi_port), secret="pbx-secret-1",
                            dialplan=(out / "extensions.conf").read_text(encoding="utf-8"),
                            queues=(out / "queues.conf").read_text(encoding="utf-8"),
                            speed=60, inbound_context="hl12319-entry") as pbx:
        settings = Settings(var_dir=tmp_path, ami_host="127.0.0.1", ami_port=pbx.bound_port,
                            ami_secret="pbx-secret-1", agi_host="127.0.0.1", agi_port=agi_port)
        svc = TelephonyService(settings, db_factory, rules=shipped_rules, clock=lambda: OPEN_AT)
        await svc.start()
        try:
            assert svc.mode == "asterisk" and svc.simulator is None and svc.agi_port == agi_port
            h = await pbx.place_call(caller="13904761234",
                                     script=CallerScript().until_app("Background").wait(1).press("1")
                                     .until_app("Queue").wait(2).hangup())
            await h.wait_ended(30)
            for _ in range(500):
                await svc.bus.drain()
                with db_factory() as s:
                    call = s.scalar(select(Call).where(Call.call_id == h.linkedid, Call.ended_at.is_not(None)))
                if call is not None:
                    break
                await asyncio.sleep(0.02)
        finally:
            await svc.stop()
    assert call is not None
    assert call.variables["HOTLINE_OPEN"] == "1" and call.variables["HOTLINE_HOURS_SOURCE"] == "backend"
    assert call.variables["HOTLINE_REPEAT_CALLER"] == "0"
    assert ("hl12319-menu-main", "choice", "1") in steps(call)


async def test_stopping_the_service_stores_calls_in_progress_as_ended(db_factory, tmp_path, shipped_rules):
    settings = Settings(var_dir=tmp_path, demo_call_rate=0, ami_host="", agi_port=0)
    svc = TelephonyService(settings, db_factory, sim_speed=30.0, rules=shipped_rules, clock=lambda: OPEN_AT,
                           sim_agents=(("agents", "PJSIP/agent-1001", "坐席1001"),))
    await svc.start()
    try:
        svc.simulator.add_endpoint("agent-1001", Endpoint("noanswer"))      # the caller stays in the queue
        h = await svc.simulator.place_call(caller="13904765555",
                                           script=CallerScript().until_app("Background").wait(1).press("1"))
        for _ in range(2000):
            snap = svc.tracker.snapshot(h.linkedid)
            if snap is not None and snap.queue_joined_at is not None:
                break
            await asyncio.sleep(0.005)
        else:
            raise AssertionError("the caller never reached the queue")
    finally:
        await svc.stop()
    with db_factory() as s:
        call = s.scalar(select(Call).where(Call.call_id == h.linkedid))
    assert call is not None and call.ended_at is not None
    assert call.queue == "agents" and call.disposition == "abandoned"
