"""Asyncio FastAGI server for Asterisk: wire protocol, typed session API, server and routing.

Dialplan: ``same => n,AGI(agi://app:4573/ivr?district=150402,${CALLERID(num)})``. Python::

    async def ivr(session: AgiSession) -> None:
        await session.answer()
        digits, timed_out = await session.get_data("custom/enter-ticket", 5000, 20)
        await session.set_variable("TICKET_NO", digits)
        if session.env.query.get("district") == "150402":
            await session.goto_on_exit("district-lines", "150402", 1)

    server = FastAgiServer("0.0.0.0", 4573, {"ivr": ivr}, command_timeout=10)
    await server.start()   # ... await server.stop(grace=30)

When the script returns, the connection closes and the dialplan continues with
``AGISTATUS=SUCCESS``. Unknown scripts and scripts that raise get ``HOTLINE_AGI_ERROR``
set on the channel and ``AGISTATUS=FAILURE`` (see :mod:`ivr.agi.server`).
"""

from ivr.agi.errors import (
    AgiArgumentError,
    AgiCommandError,
    AgiCommandFailed,
    AgiDeadChannel,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    AgiSessionClosed,
    AgiTimeout,
)
from ivr.agi.protocol import AgiEnvironment, AgiResponse, ReplyAssembler, parse_response, quote
from ivr.agi.server import AgiRouter, FastAgiServer
from ivr.agi.session import AgiSession, RecordResult

__all__ = [
    "AgiArgumentError",
    "AgiCommandError",
    "AgiCommandFailed",
    "AgiDeadChannel",
    "AgiEnvironment",
    "AgiError",
    "AgiHangup",
    "AgiProtocolError",
    "AgiResponse",
    "AgiRouter",
    "AgiSession",
    "AgiSessionClosed",
    "AgiTimeout",
    "FastAgiServer",
    "RecordResult",
    "ReplyAssembler",
    "parse_response",
    "quote",
]
