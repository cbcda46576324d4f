"""SMPP over TLS (`tls = true`): Herald binds through a TLS front of the peer whose
certificate a private CA signed, trusted through `tls_ca_file`; without that CA the
certificate is refused and nothing is sent in the clear."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from twilio.rest import Client

from herald.config import Settings
from herald.runtime import build
from tests.carriers.smpp_peer import SmppPeer
from tests.conftest import METRICS_TOKEN, Herald, _Server, eventually


class TlsFront:
    """A TLS-terminating front on 127.0.0.1 that relays each connection to `port`."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self._target, self._context = port, context
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> TlsFront:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self._context), self._loop
        ).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *_: object) -> None:
        async def shut() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            writer.close()
            up_writer.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def front(ca: trustme.CA) -> Iterator[tuple[SmppPeer, TlsFront]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with SmppPeer() as peer, TlsFront(peer.port, context) as tls:
        yield peer, tls


def serve(tmp_path: Path, port: int, ca_file: Path | None) -> tuple[Herald, _Server]:
    carriers = tmp_path / "carriers.toml"
    trust = f'tls_ca_file = "{ca_file}"\n' if ca_file else ""
    carriers.write_text(
        f'[[connections]]\nname = "acme"\nhost = "127.0.0.1"\nport = {port}\n'
        f'system_id = "esme1"\npassword = "pw123"\ntls = true\n{trust}'
        "reconnect_min_s = 0.1\nreconnect_max_s = 0.2\ndown_after_failures = 2\n\n"
        '[[routes]]\nconnection = "acme"\ncountries = ["US"]\n'
    )
    runtime = build(
        Settings(
            data_dir=tmp_path,
            simulator_latency="instant",
            metrics_token=METRICS_TOKEN,
            carriers_file=carriers,
        )
    )
    server = _Server(runtime)
    return Herald(base_url=server.start(), runtime=runtime, backend="sqlite"), server


def test_a_message_goes_over_tls_to_an_smsc_the_private_ca_vouches_for(
    tmp_path: Path, ca: trustme.CA, front: tuple[SmppPeer, TlsFront]
) -> None:
    peer, tls = front
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    herald, server = serve(tmp_path, tls.port, ca_file)
    try:
        account = herald.account()
        client: Client = herald.client(account)
        client.incoming_phone_numbers.create(phone_number="+14155207201")
        sid = client.messages.create(to="+12125550161", from_="+14155207201", body="tls").sid
        eventually(lambda: client.messages(sid).fetch().status == "delivered")
        assert [r["text"] for r in peer.records() if r["destination_addr"] == "12125550161"] == [
            "tls"
        ]
    finally:
        server.stop()


def test_without_the_ca_the_certificate_is_refused_and_the_connection_goes_down(
    tmp_path: Path, front: tuple[SmppPeer, TlsFront]
) -> None:
    peer, tls = front
    binds = peer.stats()["binds"]
    herald, server = serve(tmp_path, tls.port, None)
    try:
        down = 'herald_smpp_down{connection="acme"} 1.0'
        eventually(lambda: down in herald.metrics())
        assert peer.stats()["binds"] == binds  # no bind ever reached the SMSC
    finally:
        server.stop()
