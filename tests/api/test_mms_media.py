"""MMS media end to end (reference §12), on a real server with a real media server on
127.0.0.1 and the official client: a create fetches every `MediaUrl` and refuses, with
nothing stored, what Twilio refuses (21620 a type or a mismatch, 63019 a failed download,
11751 a size, 21623 more than ten, 21621 a sender without MMS); what it accepts is kept,
served by the Media subresource without `.json`, listed, delivered, and its kept copy
removed with the media or the message."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from herald.domain.media_types import MAX_IMAGE, MAX_OTHER
from herald.store.media import INLINE_MAX
from tests.conftest import JPEG, PNG, Herald, eventually
from tests.webhooks.receiver import Receiver, Reply

TO = "+14155550111"
BIG_PNG = PNG + bytes(INLINE_MAX + 1000)  # kept as a file, not in the database
_numbers = itertools.count(7000)


def _typed(content_type: str, body: bytes) -> Reply:
    return Reply(headers=(("Content-Type", content_type),), body=body)


def _moved(to: str) -> Reply:
    return Reply(status=302, headers=(("Location", to),))


@pytest.fixture(scope="module")
def media() -> Iterator[Receiver]:
    with Receiver() as server:
        server.route("/cat.png", _typed("image/png", PNG))
        server.route("/big.png", _typed("image/png", BIG_PNG))
        server.route("/other.png", _typed("image/png", PNG + b"\x01" * (INLINE_MAX + 10)))
        server.route("/card.vcf", _typed("text/vcard; charset=utf-8", b"BEGIN:VCARD\r\nEND:VCARD"))
        server.route("/notes.txt", _typed("text/plain", b"just text"))
        server.route("/untyped", Reply(body=PNG))
        server.route("/page.png", _typed("image/png", b"<!DOCTYPE html><html>login</html>"))
        server.route("/cat.gif", _typed("image/gif", JPEG))
        server.route("/huge.png", _typed("image/png", PNG + bytes(MAX_IMAGE)))
        server.route("/half.jpg", _typed("image/jpeg", JPEG + bytes(MAX_IMAGE // 2)))
        server.route("/song.mp3", _typed("audio/mpeg", b"ID3" + bytes(MAX_OTHER)))
        server.route("/missing.png", Reply(status=404))
        server.route("/hop", _moved("/cat.png"))
        server.route("/inside", _moved("http://169.254.169.254/latest/meta-data/"))
        server.route("/ftp", _moved("ftp://files.example.com/cat.png"))
        for n in range(1, 6):
            server.route(f"/loop{n}", _moved(f"/loop{n + 1}"))
        yield server


class Sender:
    """An account with an MMS-capable number, reached with the official client and httpx."""

    def __init__(self, herald: Herald) -> None:
        self.herald = herald
        self.account = herald.account()
        self.auth = (self.account.sid, self.account.auth_token)
        self.client: Client = herald.client(self.account)
        self.number = f"+1415555{next(_numbers):04d}"
        self.client.incoming_phone_numbers.create(phone_number=self.number)

    def post(self, path: str, form: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.herald.url(self.account, path), data=form, auth=self.auth)

    def send(self, urls: list[str], **form: Any) -> httpx.Response:
        return self.post("Messages.json", {"To": TO, "From": self.number, "MediaUrl": urls, **form})

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.herald.url(self.account, path), auth=self.auth)

    def delivered(self, sid: str) -> None:
        eventually(lambda: self.client.messages(sid).fetch().status == "delivered")


@pytest.fixture(scope="module")
def sender(herald: Herald) -> Sender:
    return Sender(herald)


def _kept_files(herald: Herald) -> set[str]:
    directory: Path = herald.runtime.settings.resolved_media_dir
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


def _refused(response: httpx.Response, code: int) -> str:
    body = response.json()
    assert (response.status_code, body["code"], body["status"]) == (400, code, 400), body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    return str(body["message"])


def test_a_media_is_fetched_kept_served_listed_and_delivered(
    sender: Sender, media: Receiver
) -> None:
    message = sender.client.messages.create(
        to=TO,
        from_=sender.number,
        body="look",
        media_url=[f"{media.url}/cat.png?sig=1", f"{media.url}/hop", f"{media.url}/card.vcf"],
    )
    assert message.sid.startswith("MM") and message.num_media == "3"
    items = sender.client.messages(message.sid).media.list()
    types = [item.content_type for item in items]
    assert types == ["image/png", "image/png", "text/vcard"]  # in MediaUrl order
    served = sender.get(f"Messages/{message.sid}/Media/{items[0].sid}")
    assert (served.status_code, served.content) == (200, PNG)
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    card = sender.get(f"Messages/{message.sid}/Media/{items[2].sid}")
    assert card.content == b"BEGIN:VCARD\r\nEND:VCARD"
    assert card.headers["content-type"].startswith("text/vcard")
    record = sender.get(f"Messages/{message.sid}/Media/{items[0].sid}.json").json()
    assert record["content_type"] == "image/png" and record["parent_sid"] == message.sid
    media.route("/cat.png", Reply(status=500))  # what was kept is served, not fetched again
    try:
        again = sender.get(f"Messages/{message.sid}/Media/{items[1].sid}")
        assert (again.status_code, again.content) == (200, PNG)
    finally:
        media.route("/cat.png", _typed("image/png", PNG))
    sender.delivered(message.sid)
    unknown = sender.get(f"Messages/{message.sid}/Media/ME{'0' * 32}")
    assert (unknown.status_code, unknown.json()["code"]) == (404, 20404)


def test_a_large_media_is_a_file_removed_with_its_media_and_its_message(
    herald: Herald, sender: Sender, media: Receiver
) -> None:
    before = _kept_files(herald)
    sent = sender.send([f"{media.url}/big.png", f"{media.url}/other.png", f"{media.url}/cat.png"])
    assert sent.status_code == 201, sent.text
    sid = sent.json()["sid"]
    items = sender.get(f"Messages/{sid}/Media.json").json()["media_list"]
    files = _kept_files(herald) - before
    assert files == {items[0]["sid"], items[1]["sid"]}  # the small one is in the database
    directory = herald.runtime.settings.resolved_media_dir
    assert (directory / items[0]["sid"]).read_bytes() == BIG_PNG
    served = sender.get(f"Messages/{sid}/Media/{items[0]['sid']}")
    assert served.content == BIG_PNG and served.headers["content-type"] == "image/png"
    sender.delivered(sid)
    deleted = httpx.delete(
        herald.url(sender.account, f"Messages/{sid}/Media/{items[0]['sid']}.json"),
        auth=sender.auth,
    )
    assert deleted.status_code == 204
    assert _kept_files(herald) - before == {items[1]["sid"]}
    sender.client.messages(sid).delete()
    assert _kept_files(herald) == before
    assert sender.get(f"Messages/{sid}/Media/{items[1]['sid']}").status_code == 404


def test_a_replayed_create_answers_the_first_message_without_fetching_again(
    herald: Herald, sender: Sender, media: Receiver
) -> None:
    before, fetched = _kept_files(herald), media.count
    media.route("/once.png", _typed("image/png", BIG_PNG))
    form = {"To": TO, "From": sender.number, "MediaUrl": f"{media.url}/once.png"}
    url = herald.url(sender.account, "Messages.json")
    key = {"Idempotency-Key": "mms-once"}
    first = httpx.post(url, data=form, auth=sender.auth, headers=key)
    assert first.status_code == 201, first.text
    media.route("/once.png", Reply(status=404))  # gone since: the retry does not look
    again = httpx.post(url, data=form, auth=sender.auth, headers=key)
    assert (again.status_code, again.json()["sid"]) == (201, first.json()["sid"])
    assert media.count == fetched + 1
    [item] = sender.get(f"Messages/{first.json()['sid']}/Media.json").json()["media_list"]
    assert _kept_files(herald) - before == {item["sid"]}


REFUSALS = {
    "not-accepted": (["/notes.txt"], 21620, "(text/plain) is not one MMS accepts"),
    "no-type": (["/untyped"], 21620, "is not one MMS accepts"),
    "html-as-png": (["/page.png"], 21620, "(image/png) does not match the media"),
    "jpeg-as-gif": (["/cat.png", "/cat.gif"], 21620, "(image/gif) does not match the media"),
    "to-metadata": (["/inside"], 21620, "does not fetch"),
    "to-ftp": (["/ftp"], 21620, "does not fetch"),
    "not-found": (["/cat.png", "/missing.png"], 63019, "HTTP 404"),
    "redirect-loop": (["/loop1"], 63019, "could not be downloaded"),
    "over-5-mb": (["/huge.png"], 11751, "larger than an MMS may carry"),
    "audio-over-500-kb": (["/song.mp3"], 11751, "audio/mpeg may have at most"),
    "all-over-5-mb": (["/half.jpg", "/half.jpg", "/cat.png"], 11751, "at most"),
}


@pytest.mark.parametrize(("paths", "code", "says"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_media_twilio_refuses_refuses_the_create(
    herald: Herald, sender: Sender, media: Receiver, paths: list[str], code: int, says: str
) -> None:
    before = (len(sender.client.messages.list()), _kept_files(herald))
    refused = sender.send([media.url + path for path in paths], Body="hi")
    assert says in _refused(refused, code)
    assert (len(sender.client.messages.list()), _kept_files(herald)) == before


def test_too_many_media_or_a_url_that_is_not_http_are_refused_before_any_fetch(
    sender: Sender, media: Receiver
) -> None:
    fetched = media.count
    _refused(sender.send([f"{media.url}/cat.png"] * 11), 21623)
    _refused(sender.send([f"{media.url}/cat.png", "ftp://files.example.com/a.png"]), 21620)
    _refused(sender.send(["/cat.png"]), 21620)
    assert media.count == fetched


def test_a_sender_without_mms_is_refused_before_any_fetch(
    herald: Herald, sender: Sender, media: Receiver
) -> None:
    fetched = media.count
    no_mms = f"+1415555{next(_numbers):04d}"
    made = sender.post(
        "IncomingPhoneNumbers.json", {"PhoneNumber": no_mms, "Capabilities.Mms": "false"}
    )
    assert made.status_code == 201, made.text
    code = sender.post("SMS/ShortCodes.json", {"ShortCode": "61616"})  # no MMS unless given
    assert code.status_code == 201 and code.json()["capabilities"]["mms"] is False
    url = f"{media.url}/cat.png"
    for sent in (
        sender.send([url], From=no_mms),
        sender.send([url], From="61616"),
        sender.send([url], From="Herald", To="+447400123456"),  # alphanumeric: SMS only
    ):
        assert "cannot send media" in _refused(sent, 21621)
    assert media.count == fetched
    with pytest.raises(TwilioRestException) as unowned:  # not the account's: 21606 first
        sender.client.messages.create(to=TO, from_="+14155559999", media_url=[url])
    assert unowned.value.code == 21606
    text = sender.client.messages.create(to=TO, from_=no_mms, body="text only")
    assert text.num_media == "0"  # it still sends SMS
