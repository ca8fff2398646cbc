"""An Asterisk 11 PBX (AMI 1.3) is refused, loudly, instead of splitting every conversation.

AMI 1 has no Linkedid on channel events: each channel of one conversation (the phone, both
halves of a Local channel, the callee) would start a call of its own.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from fake_ami import SECRET, USERNAME, FakeAmi
from ivr.ami.client import AmiClient
from ivr.ami.messages import Message
from ivr.calls import CallTracker, UnsupportedAmi
from ivr.controller import AmiController
from ivr.replay import replay_bytes


def event(name: str, **fields: str) -> bytes:
    return Message([("Event", name), *fields.items()]).encode()


def channel(name: str, uid: str, cid: str) -> dict[str, str]:
    return dict(Privilege="call,all", Channel=name, ChannelState="0", ChannelStateDesc="Down",
                CallerIDNum=cid, CallerIDName="", AccountCode="", Exten="202", Context="from-phones",
                Uniqueid=uid)


# what Asterisk 11 sends when phone 201 calls 202 through a Local channel (no Linkedid anywhere)
PHONE, ONE, TWO, CALLEE = ("SIP/201-00000001", "1390000000.1", "201"), ("Local/202@route-00000001;1", "1390000000.2", ""), \
    ("Local/202@route-00000001;2", "1390000000.3", ""), ("SIP/202-00000002", "1390000000.4", "202")
AMI_1_3 = b"".join([
    b"Asterisk Call Manager/1.3\r\n",
    *(event("Newchannel", **channel(*c)) for c in (PHONE, ONE, TWO, CALLEE)),
    event("Dial", Privilege="call,all", SubEvent="Begin", Channel=TWO[0], Destination=CALLEE[0],
          UniqueID=TWO[1], DestUniqueID=CALLEE[1], Dialstring="202"),
    event("Bridge", Privilege="call,all", Bridgestate="Link", Bridgetype="core", Channel1=TWO[0],
          Channel2=CALLEE[0], Uniqueid1=TWO[1], Uniqueid2=CALLEE[1], CallerID1="201", CallerID2="202"),
    *(event("Hangup", Privilege="call,all", Channel=c[0], Uniqueid=c[1], Cause="16",
            **{"Cause-txt": "Normal Clearing"}) for c in (CALLEE, TWO, ONE, PHONE)),
])


def test_replaying_an_asterisk_11_capture_is_refused_not_split_into_four_calls():
    with pytest.raises(UnsupportedAmi, match="Asterisk 11"):
        replay_bytes(AMI_1_3)
    # the same events under an AMI 2 banner are replayed (and show what refusing avoids)
    assert len(replay_bytes(AMI_1_3.replace(b"Manager/1.3", b"Manager/2.10.3", 1))) == 4


def test_the_banner_decides():
    tracker = CallTracker()
    for banner in ("Asterisk Call Manager/2.10.3", "Asterisk Call Manager/9.0.0", None, "some other server"):
        assert tracker.check_banner(banner) and tracker.refused is None
    assert not tracker.check_banner("Asterisk Call Manager/1.1")     # Asterisk 1.8
    assert "upgrade to Asterisk 12" in tracker.refused


async def test_the_controller_refuses_an_asterisk_11_pbx_at_connect(caplog):
    ami = FakeAmi(banner=b"Asterisk Call Manager/1.3\r\n")
    port = await ami.start()
    tracker = CallTracker()
    ctl = AmiController(AmiClient("127.0.0.1", port, USERNAME, SECRET, ping_interval=None), tracker)
    try:
        with caplog.at_level(logging.ERROR, logger="ivr.calls"):
            await ctl.start()
            for _ in range(100):
                if tracker.refused:
                    break
                await asyncio.sleep(0.02)
        assert tracker.refused and ctl.resyncs == 0
        assert any("AMI 1.3" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
        tracker.feed(Message([("Event", "Newchannel"), *channel(*PHONE).items()]))
        assert len(tracker) == 0
    finally:
        await ctl.stop()
        await ami.kill()
