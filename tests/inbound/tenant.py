"""An account with a Messaging Service, as the two-way tests drive it: numbers in its pool
or outside it, a handset texting any of them through the simulator, and Herald's own
resources (`/v1/Services/{MG}/OptOut`, `/herald/v1/.../OptOuts`) over plain HTTP."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
from twilio.rest import Client

from tests.conftest import Herald, eventually

_numbers = itertools.count(1000)
AREAS = ("646", "212", "303", "617", "312", "202", "305", "404", "512", "206")
_areas = itertools.cycle(AREAS)
_handsets: defaultdict[str, Iterator[int]] = defaultdict(lambda: itertools.cycle(range(100)))
_mexicans = itertools.count(1000)
XML = (("Content-Type", "text/xml"),)
EMPTY_TWIML = b"<Response/>"


def number(area: str = "415") -> str:
    """A new long code of ours (unique in this process, so in every module's database)."""
    return f"+1{area}557{next(_numbers):04d}"


def handset(area: str | None = None) -> str:
    """A handset in NANPA's fictional range +1 NPA 555-0100…0199, which the simulator
    always delivers to (elsewhere a seeded few percent are undelivered or landlines);
    none repeats within the next 99 of its area code, nor 999 overall."""
    area = area or next(_areas)
    return f"+1{area}5550{100 + next(_handsets[area])}"


def mexican_handset() -> str:
    return f"+5255{next(_mexicans):08d}"


class Tenant:
    """A fresh account and its one Messaging Service (options as the client names them)."""

    def __init__(self, herald: Herald, **service: Any) -> None:
        self.herald = herald
        self.account = herald.account()
        self.auth = (self.account.sid, self.account.auth_token)
        self.client: Client = herald.client(self.account)
        self.service = self.client.messaging.v1.services.create(friendly_name="two-way", **service)
        self.sids: dict[str, str] = {}  # phone number → its PN SID

    def own(self, phone: str | None = None, **options: Any) -> str:
        """A number of the account outside the service."""
        phone = phone or number()
        pn = self.client.incoming_phone_numbers.create(phone_number=phone, **options)
        self.sids[phone] = pn.sid
        return phone

    def pooled(self, phone: str | None = None, **options: Any) -> str:
        """A number of the account in the service's pool."""
        phone = self.own(phone, **options)
        self.client.messaging.v1.services(self.service.sid).phone_numbers.create(
            phone_number_sid=self.sids[phone]
        )
        return phone

    def text(self, from_: str, to: str, body: str) -> dict[str, Any]:
        """A handset texts one of our numbers; the stored inbound message."""
        answer = httpx.post(
            f"{self.herald.base_url}/herald/v1/Simulator/Inbound",
            data={"From": from_, "To": to, "Body": body},
            auth=self.auth,
        )
        assert answer.status_code == 201, answer.text
        message: dict[str, Any] = answer.json()
        return message

    def send(self, to: str, **params: Any) -> Any:
        """A send through the service unless `params` names `from_`."""
        if "from_" not in params:
            params["messaging_service_sid"] = self.service.sid
        return self.client.messages.create(to=to, body=params.pop("body", "news"), **params)

    def replies_to(self, phone: str) -> list[Any]:
        """Our messages to `phone` (sent or replies), oldest first."""
        found = [m for m in self.client.messages.list(to=phone) if m.direction != "inbound"]
        return sorted(found, key=lambda m: m.date_created)

    def reply_to(self, phone: str) -> Any:
        """The one reply `phone` got to a text (waits for it; more than one fails)."""

        def one() -> Any:
            found = [m for m in self.replies_to(phone) if m.direction == "outbound-reply"]
            assert len(found) <= 1, [m.body for m in found]
            return found[0] if found else None

        return eventually(one)

    def settled(self, sid: str, statuses: tuple[str, ...] = ("delivered",)) -> Any:
        return eventually(
            lambda: (m := self.client.messages(sid).fetch()).status in statuses and m, timeout=15
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        # (`params={}` would drop a query already in `path`, as a next_page_uri has)
        return httpx.get(f"{self.herald.base_url}{path}", params=params or None, auth=self.auth)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.herald.base_url}{path}", auth=self.auth, **kwargs)

    def delete(self, path: str) -> httpx.Response:
        return httpx.delete(f"{self.herald.base_url}{path}", auth=self.auth)

    @property
    def ledger(self) -> str:
        return f"/herald/v1/Accounts/{self.account.sid}/OptOuts"

    @property
    def opt_out_settings(self) -> str:
        return f"/v1/Services/{self.service.sid}/OptOut"
