"""Fixtures for the FastAGI tests: a running server on an ephemeral port."""

from __future__ import annotations

import pytest

from ivr.agi import FastAgiServer


@pytest.fixture
async def serve():
    """``server = await serve(routes, **options)``: started on 127.0.0.1:0, stopped after the test."""
    servers: list[FastAgiServer] = []

    async def start(routes, **options) -> FastAgiServer:
        server = FastAgiServer("127.0.0.1", 0, routes, **options)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop(grace=2.0)
