"""The `Transport` Herald uses when a carriers file is given: each segment goes over the
SMPP connection its route names (or that connection's failover while it is down), and
anything no route matches goes to the simulator. The dispatcher sees one transport.

Lookups (what Preview and the MMS Converter ask) answer from the routes too: a country
routed to an SMPP connection has that connection as its carrier, which takes no MMS.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

from herald.carriers.base import InboundHandler, ReceiptHandler
from herald.carriers.simulator import CarrierSimulator
from herald.carriers.smpp import SmppConnection
from herald.clock import Clock
from herald.domain.carrier import CarrierInfo, Submission, SubmitResult
from herald.domain.carrier_config import CarrierConfig, CarrierConfigError, parse
from herald.domain.health import Outcome
from herald.domain.numbers import country_of
from herald.store.db import Database

T = TypeVar("T")


def load_carriers_file(path: Path) -> CarrierConfig:
    """The checked configuration; `CarrierConfigError` names the file and the key."""
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise CarrierConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CarrierConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse(document)
    except CarrierConfigError as exc:
        raise CarrierConfigError(f"{path}: {exc}") from None


class CarrierRouter:
    name = "carriers"

    def __init__(
        self,
        config: CarrierConfig,
        simulator: CarrierSimulator,
        db: Database,
        clock: Clock,
        *,
        new_id: Callable[[], str],
    ) -> None:
        self.config = config
        self.simulator = simulator
        self.connections = {
            c.name: SmppConnection(c, db, clock, new_id=new_id) for c in config.connections
        }

    def observe(self, record: Callable[[str, Outcome], None]) -> None:
        """Hand each connection's final outcomes (receipts, refusals) to `record`, with the
        connection's name: its health, judged as a sender's is."""
        for name, connection in self.connections.items():
            connection.receipts.on_outcome = partial(record, name)

    def target(self, submission: Submission) -> str | None:
        """The connection that carries this segment now; None: the simulator."""
        routed = self.config.route(
            country=country_of(submission.recipient), sender=submission.sender
        )
        if routed is None:
            return None
        return self.config.serving(routed, lambda name: not self.connections[name].is_down)

    async def start(self, on_receipt: ReceiptHandler, on_inbound: InboundHandler) -> None:
        await self.simulator.start(on_receipt, on_inbound)
        for connection in self.connections.values():
            await connection.start(on_receipt, on_inbound)

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        async def send(target: str | None, part: list[Submission]) -> list[SubmitResult]:
            if target is None:
                return await self.simulator.submit(part)
            return await self.connections[target].submit(part)

        return await self._spread(batch, send)

    async def reconcile(self, batch: Sequence[Submission]) -> list[SubmitResult | None]:
        async def ask(target: str | None, part: list[Submission]) -> list[SubmitResult | None]:
            if target is None:
                return await self.simulator.reconcile(part)
            return await self.connections[target].reconcile(part)

        return await self._spread(batch, ask)

    async def _spread(
        self,
        batch: Sequence[Submission],
        call: Callable[[str | None, list[Submission]], Awaitable[list[T]]],
    ) -> list[T]:
        """Each target's share of `batch` at once; the answers back in `batch`'s order."""
        groups: dict[str | None, list[int]] = {}
        for i, submission in enumerate(batch):
            groups.setdefault(self.target(submission), []).append(i)
        if len(groups) == 1:
            (target,) = groups
            return await call(target, list(batch))
        targets = list(groups)
        answers = await asyncio.gather(*(call(t, [batch[i] for i in groups[t]]) for t in targets))
        results: dict[int, T] = {}
        for target, answered in zip(targets, answers, strict=True):
            results.update(zip(groups[target], answered, strict=True))
        return [results[i] for i in range(len(batch))]

    def lookup(self, e164: str) -> CarrierInfo | None:
        country = country_of(e164)
        routed = self.config.by_country(country)
        if routed is None or country is None:
            return self.simulator.lookup(e164)
        return CarrierInfo(
            name=routed,
            country=country,
            supports_short_codes=True,
            supports_mms=False,  # SMPP carries text only: MMS goes by the converter or fails
            is_landline=False,
        )

    def price(self, e164: str, *, mms: bool) -> str | None:
        routed = self.config.by_country(country_of(e164))
        if routed is None:
            return self.simulator.price(e164, mms=mms)
        return None if mms else self.config.connection(routed).price

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections.values()))
        await self.simulator.close()
