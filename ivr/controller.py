"""The AMI controller: follows every call from AMI events and acts on calls by call id.

It wires an :class:`~ivr.ami.client.AmiClient` to a :class:`~ivr.calls.CallTracker`
(every event goes to the tracker) and, when given one, an :class:`~ivr.agents.AgentBoard`;
after every (re)login it shows the tracker the AMI banner (an Asterisk 11 PBX is refused:
:mod:`ivr.calls.compat`) and re-synchronises the tracker from ``CoreShowChannels`` and the
callers waiting in ``QueueStatus``, so calls that ended while the controller was disconnected
are closed and live calls it never saw are adopted, and the board from ``QueueStatus``.
Commands (hang up, redirect) address calls by their call id (Linkedid); the
controller finds the citizen's channel. Non-idempotent actions are never replayed
after a reconnect: the caller gets ``ConnectionLostError``.
"""

from __future__ import annotations

import logging

from ivr.agents import AgentBoard
from ivr.ami import actions
from ivr.ami.client import AmiClient
from ivr.calls import CallTracker

log = logging.getLogger(__name__)


class UnknownCall(LookupError):
    def __init__(self, call_id: str):
        super().__init__(f"no live call {call_id!r}")
        self.call_id = call_id


class AmiController:
    def __init__(self, client: AmiClient, tracker: CallTracker, agents: AgentBoard | None = None):
        self.client = client
        self.tracker = tracker
        self.agents = agents
        self.resyncs = 0
        client.on(None, tracker.feed)
        if agents is not None:
            for name in AgentBoard.EVENTS:       # only these: the board never sees the bulk of events
                client.on(name, agents.feed)
        client.on_connected(self._resync)

    async def start(self) -> None:
        """Connect; when Asterisk is not reachable yet, keep trying in the background
        (:meth:`~ivr.ami.client.AmiClient.start`): :attr:`connected` tells."""
        await self.client.start()

    @property
    def connected(self) -> bool:
        return self.client.connected

    async def stop(self) -> None:
        await self.client.close()

    async def _resync(self, client: AmiClient) -> None:
        if not self.tracker.check_banner(client.banner):
            return      # an AMI the call model does not fit (Asterisk 11): logged, no call is tracked
        rows = await actions.core_show_channels(client)
        status = await actions.queue_status(client)
        self.tracker.begin_resync()
        for row in rows:
            self.tracker.resync_channel(row)
        for item in status.events:
            self.tracker.resync_queue_item(item)
        self.tracker.end_resync()
        if self.agents is not None:
            self.agents.resync(status.events)
        self.resyncs += 1
        log.info("AMI resync: %d channel(s) live, %d call(s) tracked", len(rows), len(self.tracker))

    # -- commands --------------------------------------------------------------
    def citizen_channel(self, call_id: str) -> str:
        channels = self.tracker.channels_of(call_id)
        if not channels:
            raise UnknownCall(call_id)
        return channels[0]

    async def hangup(self, call_id: str, cause: int = 16) -> None:
        await actions.hangup(self.client, self.citizen_channel(call_id), cause=cause)

    async def redirect(self, call_id: str, context: str, exten: str, priority: int = 1) -> None:
        await actions.redirect(self.client, self.citizen_channel(call_id), context=context, exten=exten,
                               priority=priority)
