"""``CallFacade.originate_callback``: the hotline calls a citizen back over the AMI; the
answered callee is put in the agents' queue of the rendered dialplan."""

from __future__ import annotations

import asyncio

import pytest

from ivr.facade import UnknownTarget
from ivr.simulator import Endpoint


async def test_callback_answered_reaches_an_agent(running):
    async with running() as pbx:
        pbx.agent("13800001111", Endpoint("answer", answer_after=2, talk_time=30))
        result = await pbx.svc.facade.originate_callback("13800001111", queue="agents", timeout_s=20,
                                                         variables={"HOTLINE_CALLBACK_TICKET": "12319-20261127-00001"})
        assert (result.success, result.reason) == (True, "answered")
        for _ in range(2000):
            live = [s for s in pbx.svc.facade.live_calls() if s.agent_answered_at is not None]
            if live:
                break
            await asyncio.sleep(0.005)
        [snap] = live
        assert snap.queue == "agents" and "1001" in snap.agent
        await pbx.svc.facade.hangup(snap.call_id)
        call = await pbx.stored(snap.call_id)
    assert call.queue == "agents" and call.disposition == "agent"


async def test_callback_to_a_busy_number_fails_with_a_reason(running):
    async with running() as pbx:
        pbx.agent("13800002222", Endpoint("busy"))
        result = await pbx.svc.facade.originate_callback("13800002222", timeout_s=10)
    assert result.success is False and result.reason == "busy"


async def test_callback_input_is_checked_before_any_action(running):
    async with running() as pbx:
        facade = pbx.svc.facade
        with pytest.raises(ValueError, match="digits"):
            await facade.originate_callback("138-0000 abc")
        with pytest.raises(UnknownTarget):
            await facade.originate_callback("13800001111", queue="nosuch")
        with pytest.raises(ValueError, match="timeout_s"):
            await facade.originate_callback("13800001111", timeout_s=0)


def test_a_vanished_channel_is_an_unknown_call_not_a_pbx_failure():
    from ivr.ami.errors import AmiError
    from ivr.facade import _gone

    assert _gone(AmiError("Action Redirect failed: Channel does not exist: SIP/trunk-0000002a"))
    assert _gone(AmiError("Action Hangup failed: No such channel"))
    assert not _gone(AmiError("Action Redirect failed: Permission denied"))
