"""AmiClient.start: the app may start before Asterisk (compose starts both at once)."""

from __future__ import annotations

import asyncio
import socket

from fake_ami import FakeAmi
from test_client import client_for, wait_until


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_start_keeps_trying_until_asterisk_listens_then_runs_the_hooks():
    port = _closed_port()
    server = FakeAmi("00_login_ping_logoff")
    server.port = port
    client = client_for(server, events=False)
    hooks: list[bool] = []

    async def connected(c) -> None:
        hooks.append(c.connected)

    client.on_connected(connected)
    try:
        assert await client.start() is False          # nobody listens yet: no exception
        assert not client.connected and "failed" in client.last_error
        await asyncio.sleep(0.3)                        # a few backoff rounds, still refused
        assert client.stats["reconnect_failures"] >= 1 and hooks == []
        await server.start(port)                        # Asterisk comes up
        await wait_until(lambda: client.connected and hooks == [True])
        assert client.last_error is None
    finally:
        await client.close()
        await server.kill()


async def test_start_connects_at_once_when_asterisk_is_up():
    server = FakeAmi("00_login_ping_logoff")
    await server.start()
    client = client_for(server, events=False)
    try:
        assert await client.start() is True and client.connected
    finally:
        await client.close()
        await server.kill()
