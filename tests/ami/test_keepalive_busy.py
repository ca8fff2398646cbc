"""Keepalive tells a busy link from a dead one: a Ping reply that waits behind a stream of
events does not drop the connection; silence does."""

from __future__ import annotations

import asyncio

from ivr.ami.client import AmiClient

EV = b"Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: SIP/trunk-00000001\r\nExten: s\r\n\r\n"


async def _server(answer_ping: bool, stream: bool):
    async def handle(reader, writer):
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        streamer = None
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                buf += data
                while b"\r\n\r\n" in buf:
                    block, buf = buf.split(b"\r\n\r\n", 1)
                    fields = dict(l.split(": ", 1) for l in block.decode().split("\r\n") if ": " in l)
                    aid = fields.get("ActionID", "")
                    if fields.get("Action", "").lower() == "login":
                        writer.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n".encode())
                        if stream:
                            async def pump():
                                while True:
                                    writer.write(EV * 5)
                                    await writer.drain()
                                    await asyncio.sleep(0.02)
                            streamer = asyncio.create_task(pump())
                    elif fields.get("Action", "").lower() == "ping" and answer_ping:
                        writer.write(f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n".encode())
                await writer.drain()
        finally:
            if streamer:
                streamer.cancel()
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _run(answer_ping: bool, stream: bool):
    server = await _server(answer_ping, stream)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "u", "s", ping_interval=0.2, ping_timeout=0.3, reconnect=False)
    await client.connect()
    await asyncio.sleep(1.5)
    alive = client.connected
    failures = client.stats["ping_failures"]
    await client.close(logoff=False)
    server.close()
    await server.wait_closed()
    return alive, failures


async def test_unanswered_ping_on_a_streaming_link_keeps_the_connection():
    assert await _run(answer_ping=False, stream=True) == (True, 0)


async def test_unanswered_ping_on_a_silent_link_drops_it():
    alive, failures = await _run(answer_ping=False, stream=False)
    assert not alive and failures >= 1
