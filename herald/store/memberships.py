"""Which Messaging Service each of an account's numbers and short codes is in, with the
service's name: the console's numbers list shows it, and the REST API has it only per
service (`/v1/Services/{MG}/PhoneNumbers`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.engine import Connection

from herald.store.portable import in_chunks
from herald.store.schema import service_senders, services

s, v = service_senders.c, services.c


def services_of(
    conn: Connection, account_sid: str, sender_sids: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """Sender SID → (service SID, service friendly name), for the senders in one."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in in_chunks(sorted(set(sender_sids))):
        rows = conn.execute(
            select(s.sid, v.sid, v.friendly_name)
            .join(services, v.sid == s.service_sid)
            .where(s.account_sid == account_sid, v.account_sid == account_sid, s.sid.in_(chunk))
        )
        found.update({sender: (service, name) for sender, service, name in rows})
    return found
