"""Exceptions raised by the FastAGI protocol, session and server.

Hierarchy::

    AgiError
    ├── AgiProtocolError        peer sent something that is not AGI (bad env, bad reply, too long)
    ├── AgiArgumentError        a command argument cannot be sent (also a ValueError)
    ├── AgiTimeout              no reply within the per-command timeout (session is closed)
    ├── AgiHangup               connection lost / EOF: the call is gone
    ├── AgiSessionClosed        the session was already closed (after a timeout or hangup())
    └── AgiCommandError         Asterisk answered 510 / 511 / 520
        ├── AgiDeadChannel      511 on a hung-up channel (also an AgiHangup)
        └── AgiCommandFailed    200 with result=-1 (or -2) where that means failure
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ivr.agi.protocol import AgiResponse


class AgiError(Exception):
    """Base class of every FastAGI error."""


class AgiProtocolError(AgiError):
    """The peer violated the AGI wire format (or a size limit)."""


class AgiArgumentError(AgiError, ValueError):
    """A command or argument cannot be encoded on one AGI line."""


class AgiTimeout(AgiError):
    """No reply arrived in time. The session is closed afterwards, because a late
    reply would be taken for the answer to the next command."""

    def __init__(self, command: str, timeout: float) -> None:
        super().__init__(f"no reply to {command!r} within {timeout:g} s")
        self.command = command
        self.timeout = timeout


class AgiHangup(AgiError):
    """The connection to Asterisk was lost (EOF or reset): the call has ended."""


class AgiSessionClosed(AgiError):
    """A command was issued on a session that is already closed."""


class AgiCommandError(AgiError):
    """Asterisk rejected a command (510 unknown, 511 dead channel, 520 usage)."""

    def __init__(self, command: str, response: AgiResponse, message: str | None = None) -> None:
        self.command = command
        self.response = response
        self.code = response.code
        self.text = response.text
        super().__init__(message or f"{command!r} -> {response.code} {response.text}")

    @property
    def usage(self) -> str:
        """Usage text of a multi-line 520 reply (empty otherwise)."""
        return "\n".join(self.response.lines[1:-1])


class AgiDeadChannel(AgiCommandError, AgiHangup):
    """511: the channel has hung up and the command is not allowed on a dead channel."""


class AgiCommandFailed(AgiCommandError):
    """A 200 reply whose result means failure (e.g. ``result=-1`` for STREAM FILE)."""
