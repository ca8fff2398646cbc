"""Exceptions raised by the AMI protocol layer and client."""

from __future__ import annotations

from .messages import Message


class AmiError(Exception):
    """An action failed; ``response`` is the server's reply when there was one."""

    def __init__(self, message: str, response: Message | None = None) -> None:
        super().__init__(message)
        self.response = response

    @property
    def server_message(self) -> str | None:
        """The ``Message:`` header of the server's reply, if any."""
        return self.response.get("Message") if self.response is not None else None


class AuthenticationError(AmiError):
    """Login (plain or MD5 challenge) was refused."""


class ActionTimeout(AmiError):
    """No complete reply to an action arrived within its timeout."""


class ConnectionLostError(AmiError):
    """The connection dropped (or was never up) while the action was pending.

    Non-idempotent actions (Originate, Redirect, transfers, Hangup) are never
    replayed: the caller must decide what to do, because the server may or may
    not have executed them.
    """


class ProtocolError(AmiError, ValueError):
    """The peer sent something that is not AMI, or an action cannot be encoded."""
