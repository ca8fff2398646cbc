"""Asyncio FastAGI server for Asterisk: wire protocol, typed session API, server and routing."""

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
