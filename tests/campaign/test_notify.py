"""The notice when a send or sync finishes, received by real local servers: an SMTP server
(aiosmtpd, with and without AUTH) and an HTTP webhook receiver. A notice that cannot be
delivered is a logged warning, and the channels that worked are still returned."""

from __future__ import annotations

import asyncio
import email
import json
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from herald.campaign.notify import notify
from herald.campaign.settings import Campaign
from tests.campaign import campaign_file
from tests.ports import free_port
from tests.webhooks.receiver import Receiver, Reply

TOTALS = {"total": 10_000, "invalid": 12, "duplicates": 30, "suppressed": 5, "seeds": 3,
          "sent": 9_956, "failed": 0, "retries": 41, "elapsed_s": 12.5}  # fmt: skip
USER, PASSWORD = "campaigns", "p@ss word"  # the URL percent-encodes it
URL_PASSWORD = "p%40ss%20word"


@dataclass
class Mailbox:
    """What the SMTP server accepted, with the login each message came under."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append(envelope)
        self.logins.append(session.auth_data if session.authenticated else None)
        return "250 OK"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    if auth_data == LoginPassword(USER.encode(), PASSWORD.encode()):
        return AuthResult(success=True, auth_data=auth_data)
    return AuthResult(success=False, handled=False)  # the server answers 535


def _serve(**options: Any) -> Iterator[Mailbox]:
    mailbox = Mailbox(port=free_port())
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=mailbox.port, server_hostname="localhost", **options
    )
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 that offers no AUTH."""
    yield from _serve()


@pytest.fixture
def smtp_auth() -> Iterator[Mailbox]:
    """An SMTP server that offers AUTH over plain text."""
    yield from _serve(authenticator=_authenticate, auth_require_tls=False)


@pytest.fixture
def smtp_starttls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """An SMTP server as a mail provider runs one: STARTTLS required, AUTH offered only
    under TLS, its certificate from a CA the client trusts through SSL_CERT_FILE."""
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    yield from _serve(authenticator=_authenticate, tls_context=server_context,
                      require_starttls=True)  # fmt: skip


@pytest.fixture
def warnings_logged() -> Iterator[list[logging.LogRecord]]:
    """The campaign logger's warnings, caught on that logger itself (the CLI stops it
    propagating to the root, where caplog listens)."""
    handler = _Collected()
    logger = logging.getLogger("herald.campaign")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _campaign(tmp_path: Path, **notify_keys: str) -> Campaign:
    changes = {f"notify.{name}": value for name, value in notify_keys.items()}
    return campaign_file.campaign(tmp_path, changes)


def _notify(campaign: Campaign, command: str = "send") -> list[str]:
    return asyncio.run(notify(campaign, command, dict(TOTALS)))


def _attachment(message: EmailMessage) -> tuple[str | None, dict[str, Any]]:
    parts = list(message.iter_attachments())
    assert len(parts) == 1
    assert parts[0].get_content_type() == "application/json"
    return parts[0].get_filename(), json.loads(parts[0].get_content())


def test_the_email_notice_arrives(tmp_path: Path, smtp: Mailbox) -> None:
    campaign = _campaign(tmp_path, smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                         email_to="ops@example.com")  # fmt: skip
    assert _notify(campaign) == ["email"]
    [message] = smtp.messages
    assert message["Subject"] == "Campaign spring-sale: send finished"
    assert message["To"] == "ops@example.com"
    assert message["From"] == "herald-campaign@localhost"
    assert smtp.envelopes[0].rcpt_tos == ["ops@example.com"]
    assert smtp.envelopes[0].mail_from == "herald-campaign@localhost"
    text = message.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "herald campaign send spring-sale" in body
    assert "sent: 9956" in body and "invalid: 12" in body and "elapsed_s: 12.5" in body
    filename, document = _attachment(message)
    assert filename == "spring-sale-send.json"
    assert document == {"campaign": "spring-sale", "command": "send", "totals": TOTALS}
    assert smtp.logins == [None]


def test_the_email_goes_to_several_recipients_from_the_configured_sender(
    tmp_path: Path, smtp: Mailbox
) -> None:
    campaign = _campaign(tmp_path, smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                         email_to="ops@example.com, cmo@example.com",
                         email_from="campaigns@example.com")  # fmt: skip
    assert _notify(campaign, "sync") == ["email"]
    assert smtp.messages[0]["Subject"] == "Campaign spring-sale: sync finished"
    assert smtp.envelopes[0].rcpt_tos == ["ops@example.com", "cmo@example.com"]
    assert smtp.envelopes[0].mail_from == "campaigns@example.com"
    assert _attachment(smtp.messages[0])[0] == "spring-sale-sync.json"


def test_the_email_logs_in_when_the_server_offers_auth(tmp_path: Path, smtp_auth: Mailbox) -> None:
    url = f"smtp://{USER}:{URL_PASSWORD}@127.0.0.1:{smtp_auth.port}"
    campaign = _campaign(tmp_path, smtp_url=url, email_to="ops@example.com")
    assert _notify(campaign) == ["email"]
    assert smtp_auth.logins == [LoginPassword(USER.encode(), PASSWORD.encode())]
    assert _attachment(smtp_auth.messages[0])[1]["totals"] == TOTALS


def test_the_email_logs_in_under_starttls(tmp_path: Path, smtp_starttls: Mailbox) -> None:
    url = f"smtp://{USER}:{URL_PASSWORD}@127.0.0.1:{smtp_starttls.port}"
    campaign = _campaign(tmp_path, smtp_url=url, email_to="ops@example.com")
    assert _notify(campaign) == ["email"]
    assert smtp_starttls.logins == [LoginPassword(USER.encode(), PASSWORD.encode())]


def test_a_refused_login_is_a_warning(
    tmp_path: Path, smtp_auth: Mailbox, warnings_logged: list[logging.LogRecord]
) -> None:
    url = f"smtp://{USER}:wrong@127.0.0.1:{smtp_auth.port}"
    campaign = _campaign(tmp_path, smtp_url=url, email_to="ops@example.com")
    assert _notify(campaign) == []
    assert smtp_auth.messages == []
    [warning] = warnings_logged
    assert warning.getMessage().startswith("the notice by email failed: ")


def test_credentials_for_a_server_without_auth_still_send(
    tmp_path: Path, smtp: Mailbox, warnings_logged: list[logging.LogRecord]
) -> None:
    url = f"smtp://user:pass@127.0.0.1:{smtp.port}"
    campaign = _campaign(tmp_path, smtp_url=url, email_to="ops@example.com")
    assert _notify(campaign) == ["email"]
    assert len(smtp.messages) == 1
    assert [r.getMessage() for r in warnings_logged] == [
        f"the SMTP server 127.0.0.1:{smtp.port} offers no AUTH: sending without logging in"
    ]


def test_an_smtp_server_that_is_down_is_a_warning(
    tmp_path: Path, warnings_logged: list[logging.LogRecord]
) -> None:
    url = f"smtp://user:pass@127.0.0.1:{free_port()}"
    campaign = _campaign(tmp_path, smtp_url=url, email_to="ops@example.com")
    assert _notify(campaign) == []
    [warning] = warnings_logged
    assert warning.levelno == logging.WARNING
    assert "the notice by email failed" in warning.getMessage()


def test_the_webhook_notice_arrives(tmp_path: Path) -> None:
    with Receiver() as receiver:
        campaign = _campaign(tmp_path, webhook=receiver.url + "/campaign-done")
        assert _notify(campaign, "sync") == ["webhook"]
        [request] = receiver.wait_for(1)
    assert (request.method, request.path) == ("POST", "/campaign-done")
    assert request.headers["content-type"] == "application/json"
    document = json.loads(request.body)
    assert document == {"campaign": "spring-sale", "command": "sync", "totals": TOTALS}


def test_both_channels_together(tmp_path: Path, smtp: Mailbox) -> None:
    with Receiver() as receiver:
        campaign = _campaign(tmp_path, webhook=receiver.url, email_to="ops@example.com",
                             smtp_url=f"smtp://127.0.0.1:{smtp.port}")  # fmt: skip
        assert _notify(campaign) == ["webhook", "email"]
        assert len(receiver.wait_for(1)) == 1
    assert len(smtp.messages) == 1


def test_a_refusing_webhook_is_a_warning_and_the_email_still_goes(
    tmp_path: Path, smtp: Mailbox, warnings_logged: list[logging.LogRecord]
) -> None:
    with Receiver() as receiver:
        receiver.always(Reply(status=500))
        campaign = _campaign(tmp_path, webhook=receiver.url + "/hook", email_to="ops@example.com",
                             smtp_url=f"smtp://127.0.0.1:{smtp.port}")  # fmt: skip
        assert _notify(campaign) == ["email"]
        assert len(receiver.wait_for(1)) == 1
    assert len(smtp.messages) == 1
    [warning] = warnings_logged
    assert warning.getMessage().startswith(f"the notice to {receiver.url}/hook failed: ")
    assert "500" in warning.getMessage()


def test_an_unreachable_webhook_is_a_warning(
    tmp_path: Path, warnings_logged: list[logging.LogRecord]
) -> None:
    campaign = _campaign(tmp_path, webhook=f"http://127.0.0.1:{free_port()}/hook")
    assert _notify(campaign) == []
    assert len(warnings_logged) == 1


def test_no_channel_configured_sends_nothing(tmp_path: Path) -> None:
    assert _notify(campaign_file.campaign(tmp_path)) == []
