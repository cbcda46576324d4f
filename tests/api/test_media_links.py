"""The MMS Converter's `/m/` links on a real server, with a real media server on
127.0.0.1: the media is served through Herald (the copy kept at the create) and its URL
never shown; several media are listed as `/m/{code}/{n}`; a media without a kept copy is
fetched, its redirects followed and checked, and a failure is a 502 that tells nothing of
the upstream; and each client may make only a few requests a second."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from sqlalchemy import update

from herald.runtime import LINK_REQUESTS_PER_S
from herald.store.schema import media as media_table
from herald.throttle import ClientThrottle, client_key
from herald.webhooks.media import MAX_BYTES
from tests.api.test_service_sending import Pool, number
from tests.conftest import JPEG, PNG, Herald, eventually
from tests.webhooks.receiver import Receiver, Reply


@pytest.fixture
def media(herald: Herald) -> Iterator[Receiver]:
    """A media server; and a fresh throttle, so each test has its own second."""
    herald.runtime.link_throttle = ClientThrottle(per_second=LINK_REQUESTS_PER_S)
    with Receiver() as server:
        server.route("/cat.jpg", Reply(headers=(("Content-Type", "image/jpeg"),), body=JPEG))
        server.route("/dog.png", Reply(headers=(("Content-Type", "image/png"),), body=PNG))
        yield server


@pytest.fixture(scope="module")
def pool(herald: Herald) -> Pool:
    made = Pool(herald)
    made.add_number(number())
    return made


def link_for(pool: Pool, urls: list[str], *, kept_as: list[str] | None = None) -> str:
    """Send an MMS to a carrier that takes none; the path of the link sent instead.
    With `kept_as`, the media become ones with those URLs and no kept copy, as media
    stored before Herald kept copies are (so the link fetches them)."""
    sent = pool.send("+447400123456", media_url=urls)
    link = eventually(lambda: (pool.routing(sent.sid)["decision"] or {}).get("mms_link"))
    if kept_as is not None:
        items = pool.client.messages(sent.sid).media.list()
        with pool.herald.runtime.db.write_engine.begin() as conn:
            for item, url in zip(items, kept_as, strict=True):
                conn.execute(
                    update(media_table)
                    .where(media_table.c.sid == item.sid)
                    .values(url=url, size=None, content=None)
                )
    return "/m/" + str(link).rsplit("/", 1)[1]


def get(herald: Herald, path: str) -> httpx.Response:
    return httpx.get(herald.base_url + path, follow_redirects=False, timeout=20)


def test_one_media_is_served_without_revealing_its_url(
    herald: Herald, pool: Pool, media: Receiver
) -> None:
    path = link_for(pool, [f"{media.url}/cat.jpg?token=s3cret"])
    served = get(herald, path)
    assert (served.status_code, served.content) == (200, JPEG)
    assert served.headers["content-type"] == "image/jpeg"
    assert "location" not in served.headers and "s3cret" not in str(served.headers)
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert get(herald, path + "/1").content == JPEG
    assert get(herald, path + "/2").json()["code"] == 20404
    [request] = [r for r in media.requests if r.path == "/cat.jpg"]  # at the create only
    assert request.target == "/cat.jpg?token=s3cret" and "authorization" not in request.headers
    media.route("/cat.jpg", Reply(status=500))  # the copy kept at the create is served
    assert get(herald, path + "/1").content == JPEG and len(media.requests) == 1


def test_several_media_are_listed_and_each_served(
    herald: Herald, pool: Pool, media: Receiver
) -> None:
    path = link_for(pool, [f"{media.url}/cat.jpg?token=s3cret", f"{media.url}/dog.png"])
    page = get(herald, path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert media.url not in page.text and "s3cret" not in page.text
    links = re.findall(r'href="([^"]+)"', page.text)
    served = [get(herald, urljoin(path, href)) for href in links]
    assert [(s.status_code, s.content) for s in served] == [(200, JPEG), (200, PNG)]
    assert [s.headers["content-type"] for s in served] == ["image/jpeg", "image/png"]


def test_redirects_are_followed_and_each_hop_is_checked(
    herald: Herald, pool: Pool, media: Receiver
) -> None:
    def moved(to: str) -> Reply:
        return Reply(status=302, headers=(("Location", to),))

    media.route("/hop1", moved("/hop2"))
    media.route("/hop2", moved(f"{media.url}/cat.jpg"))
    media.route("/inside", moved("http://169.254.169.254/latest/meta-data/"))
    media.route("/ftp", moved("ftp://files.example.com/cat.jpg"))
    for n in range(1, 5):
        media.route(f"/loop{n}", moved(f"/loop{n + 1}"))
    hops = [f"{media.url}/{p}" for p in ("hop1", "inside", "ftp", "loop1")]
    path = link_for(pool, [f"{media.url}/cat.jpg"] * 4, kept_as=hops)
    statuses = [get(herald, f"{path}/{n}").status_code for n in range(1, 5)]
    assert statuses == [200, 502, 502, 502]
    assert not any(r.path == "/loop5" for r in media.requests)  # three redirects at most


def test_a_failed_fetch_is_a_502_that_tells_nothing_of_the_upstream(
    herald: Herald, pool: Pool, media: Receiver
) -> None:
    media.route("/broken", Reply(status=500, body=b"Traceback: secret internals"))
    media.route(
        "/huge", Reply(headers=(("Content-Type", "video/mp4"),), body=b"x" * (MAX_BYTES + 1))
    )
    media.route("/odd", Reply(headers=(("Content-Type", "text/html\r\nX-Evil: 1"),), body=b"ok"))
    urls = [f"{media.url}/broken", f"{media.url}/huge", f"{media.url}/odd"]
    path = link_for(pool, [f"{media.url}/cat.jpg"] * 3, kept_as=urls)
    for n in (1, 2):
        failed = get(herald, f"{path}/{n}")
        body: dict[str, Any] = failed.json()
        assert (failed.status_code, body["code"], body["status"]) == (502, 11200, 502)
        assert "secret" not in failed.text and media.url not in failed.text
    odd = get(herald, f"{path}/3")
    assert odd.status_code == 200 and "x-evil" not in odd.headers


def test_each_client_gets_a_few_requests_a_second(herald: Herald, media: Receiver) -> None:
    started = time.monotonic()
    answers = [get(herald, f"/m/guess{n:02d}") for n in range(LINK_REQUESTS_PER_S + 5)]
    elapsed = time.monotonic() - started
    statuses = [a.status_code for a in answers]
    assert statuses[:LINK_REQUESTS_PER_S] == [404] * LINK_REQUESTS_PER_S
    if elapsed < 1.0:  # all within one second: every guess beyond the burst is refused
        assert statuses[LINK_REQUESTS_PER_S:] == [429] * 5
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["code"] == 20429 and refused.json()["status"] == 429
    assert refused.headers["retry-after"] == "1"


def test_client_keys_and_a_bounded_table() -> None:
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key("2001:db8:1:2:3:4:5:6") == client_key("2001:db8:1:2:ffff::1")
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key(None) == "unknown" and client_key("testclient") == "testclient"
    throttle = ClientThrottle(per_second=2, max_clients=3)
    assert [throttle.admit("10.0.0.1", 0) for _ in range(3)] == [0, 0, 1_000_000]
    assert throttle.admit("10.0.0.1", 1_000_000) == 0  # a second later
    for n in range(2, 10):
        throttle.admit(f"10.0.0.{n}", 1_000_000)
    assert len(throttle) == 3  # the least recently seen forgotten
