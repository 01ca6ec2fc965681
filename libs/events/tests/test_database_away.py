"""A request that meets a database restart answers 503 with Retry-After, never 500.

The restart is played by a TCP proxy in front of the real PostgreSQL: it cuts
every open connection and refuses new ones, as a server going down does, then
accepts again. Nothing was committed by the refused request, so a client
retries it; the service answers again once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from sample_service import rest_service
from sqlalchemy.engine import make_url

from avrr_events.settings import ServiceSettings
from avrr_events.testing import _free_port, serving
from avrr_events.web.service import ServiceRuntime

restarted = rest_service("restarted")
HEADERS = {"X-AVRR-User": "ana", "X-AVRR-Roles": "caseworker"}


class RestartingProxy:
    """Forwards 127.0.0.1:<port> to the database; ``down()`` cuts and refuses like a restart."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = _free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._open):
            writer.transport.abort()  # a reset, as from a server that went away
        self._open.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._open |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


@contextlib.asynccontextmanager
async def restarting(database_url: str) -> AsyncIterator[tuple[RestartingProxy, httpx.AsyncClient]]:
    """The ``restarted`` service on the database behind a ``RestartingProxy`` (up), and an
    HTTP client on it; the proxy is down again afterwards."""
    url = make_url(database_url)
    proxy = RestartingProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    runtime = ServiceRuntime(restarted, ServiceSettings(database_url=through, dev=True))
    try:
        async with serving(runtime) as http:
            yield proxy, http
    finally:
        await proxy.down()


async def test_a_request_during_a_database_restart_is_503_with_retry_after(
    database_url: str,
) -> None:
    async with restarting(database_url) as (proxy, http):
        assert (await http.post("/cases/r-1", headers=HEADERS)).status_code == 200

        await proxy.down()
        for method, path in (("POST", "/cases/r-2"), ("POST", "/cases/r-3")):
            response = await http.request(method, path, headers=HEADERS)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["type"].endswith(":unavailable")

        await proxy.up()
        retried = await http.post("/cases/r-2", headers=HEADERS)
        assert retried.status_code == 200, retried.text
