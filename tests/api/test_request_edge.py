"""What the server accepts from clients (issue 10, the request edge), each reproduction of
the issue as a request to a real server: blank senders, sizes, integers and path
parameters no column holds, lenient parsing, unknown page tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from herald.store import messages as message_store
from tests.api import raw_http, spec
from tests.conftest import Herald

# API-only: nothing is dispatched, so what is stored stays as the API stored it.
DISPATCH = False

SENDER = "+14155550100"
TO = "+14155550111"
UNKNOWN = "0123456789abcdef0123456789abcdef"


@dataclass
class Edge:
    herald: Herald
    http: httpx.Client
    account_sid: str
    auth: tuple[str, str]
    number_sid: str
    service_sid: str

    @property
    def a(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}"

    def send(self, **form: Any) -> httpx.Response:
        return self.http.post(f"{self.a}/Messages.json", data=form)

    def stored(self) -> int:
        def read(conn: Any) -> int:
            where = message_store.MessageFilter()
            return len(message_store.list_messages(conn, self.account_sid, where, limit=10**6))

        return self.herald.runtime.db.run(read)


@pytest.fixture(scope="module")
def edge(herald: Herald) -> Iterator[Edge]:
    account = herald.account()
    auth = (account.sid, account.auth_token)
    with httpx.Client(base_url=herald.base_url, auth=auth, timeout=10) as http:
        a = f"/2010-04-01/Accounts/{account.sid}"
        number = http.post(f"{a}/IncomingPhoneNumbers.json", data={"PhoneNumber": SENDER})
        service = http.post("/v1/Services", data={"FriendlyName": "edge"})
        pool = f"/v1/Services/{service.json()['sid']}/PhoneNumbers"
        added = http.post(pool, data={"PhoneNumberSid": number.json()["sid"]})
        assert added.status_code == 201, added.text
        yield Edge(herald, http, account.sid, auth, number.json()["sid"], service.json()["sid"])


def error_of(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert spec.error_problems(response, status, code) == []
    body: dict[str, Any] = response.json()
    return body


# -- 1. A blank or malformed From -------------------------------------------------------


@pytest.mark.parametrize("blank", [" ", "   ", "\t", "\r\n"])
def test_a_blank_from_is_refused_and_nothing_is_stored(edge: Edge, blank: str) -> None:
    """Issue 10 #1: `From= ` answered 201 with `"from": ""` and was delivered."""
    before = edge.stored()
    error_of(edge.send(To=TO, From=blank, Body="x"), 400, 21212)
    with_service = edge.send(To=TO, From=blank, MessagingServiceSid=edge.service_sid, Body="x")
    error_of(with_service, 400, 21212)
    assert edge.stored() == before


@pytest.mark.parametrize(
    ("from_", "code"),
    [
        ("+1415555010", 21212),  # too short to be a number
        ("²⁴¹⁵⁵⁵⁰¹⁰⁰", 21212),  # digits to `str.isdigit`, not to a parser
        ("MG" + "g" * 32, 21212),  # neither a service nor an alphanumeric ID
        ("+14155550199", 21606),  # a number, not the account's
        ("MG" + UNKNOWN, 21701),  # a service, not the account's
    ],
)
def test_a_malformed_or_foreign_from_is_refused(edge: Edge, from_: str, code: int) -> None:
    before = edge.stored()
    response = edge.send(To=TO, From=from_, Body="x")
    error_of(response, 404 if code == 21701 else 400, code)
    assert edge.stored() == before


def test_neither_from_nor_service_is_21603(edge: Edge) -> None:
    error_of(edge.send(To=TO, Body="x"), 400, 21603)
    error_of(edge.send(To=TO, From="", MessagingServiceSid="", Body="x"), 400, 21603)


# -- 2. Sizes ---------------------------------------------------------------------------


def test_a_body_declared_beyond_the_cap_is_refused_before_it_is_sent(edge: Edge) -> None:
    """Issue 10 #4: one 200 MB POST Keys.json was read whole (895 MB RSS). The head alone
    earns the 413: the client has not sent a byte of the body when it arrives."""
    sock = raw_http.connect(edge.herald.base_url)
    with sock:
        declared = 200 * 1024 * 1024
        sock.sendall(
            raw_http.head(
                "POST",
                f"{edge.a}/Keys.json",
                edge.auth,
                Content_Type="application/x-www-form-urlencoded",
                Content_Length=declared,
            )
        )
        status, headers, body = raw_http.parse_response(raw_http.read_until_closed(sock))
    assert raw_http.twilio_error_problems(status, body, 413) == []
    assert body["code"] == 20413 and headers["connection"] == "close"


def test_a_streamed_body_is_cut_off_once_past_the_cap(edge: Edge) -> None:
    """Chunked, without a length to refuse early: refused once the bytes pass the cap,
    long before the client is done, and never buffered whole."""
    cap = edge.herald.runtime.settings.max_body_bytes
    sock = raw_http.connect(edge.herald.base_url)
    with sock:
        sock.sendall(
            raw_http.head(
                "POST",
                f"{edge.a}/Keys.json",
                edge.auth,
                Content_Type="application/x-www-form-urlencoded",
                Transfer_Encoding="chunked",
            )
        )
        chunk = b"FriendlyName=" + b"x" * 16_371  # 16 KiB
        sent = 0
        while not raw_http.readable(sock, 0.05):
            assert sent < 8 * cap, "the server read far past its cap"
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, _, body = raw_http.parse_response(raw_http.read_until_closed(sock))
    assert raw_http.twilio_error_problems(status, body, 413) == []
    assert cap < sent + len(chunk) <= 8 * cap


def test_a_body_at_the_cap_is_read(edge: Edge) -> None:
    cap = edge.herald.runtime.settings.max_body_bytes
    form = {"To": TO, "From": SENDER, "Body": "x"}
    encoded = urlencode(form)
    padding = "&Pad=" + "p" * 200  # unknown parameters are ignored, within their limit
    content = (encoded + padding * ((cap - len(encoded)) // len(padding))).encode()
    assert cap - len(padding) < len(content) <= cap
    response = edge.http.post(
        f"{edge.a}/Messages.json",
        content=content,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201, response.text


SEND = {"To": TO, "From": SENDER, "Body": "x"}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"ApplicationSid": "AP" + "0" * 33}, 21658),
        ({"MessagingServiceSid": "MG" + "0" * 33}, 21658),
        ({"Tags": '{"k": "' + "v" * 1100 + '"}'}, 21658),
        ({"MaxPrice": "1" * 17}, 21658),
        ({"To": "+1" + "4" * 70}, 21658),
        ({"SendAt": "2" * 65}, 21658),
        ({"PersistentAction": "p" * 257}, 21658),  # a parameter the table does not name
        ({"Body": "x" * 1601}, 21617),  # Body keeps its own code, however long
        ({"Body": "x" * 60_000}, 21617),
        ({"Body": "😀" * 801}, 21617),  # 1,602 UTF-16 units in 801 characters
        ({"MediaUrl": "https://e.com/" + "a" * 2040}, 21620),
        ({"StatusCallback": "https://e.com/" + "a" * 1020}, 21609),
    ],
)
def test_a_send_parameter_beyond_its_length(edge: Edge, changes: dict[str, str], code: int) -> None:
    before = edge.stored()
    body = error_of(edge.send(**{**SEND, **changes}), 400, code)
    if code == 21658:
        assert next(iter(changes)) in body["message"]
    assert edge.stored() == before


def test_a_send_parameter_at_its_length_is_taken(edge: Edge) -> None:
    tags = '{"k": "' + "v" * (1024 - 9) + '"}'
    assert len(tags) == 1024
    response = edge.send(**SEND, Tags=tags, Attempt="2147483647", MaxPrice="0." + "5" * 14)
    assert response.status_code == 201, response.text
    assert response.json()["tags"] == {"k": "v" * 1015}


@pytest.mark.parametrize(
    ("path", "form", "name", "limit"),
    [
        ("IncomingPhoneNumbers.json", {"PhoneNumber": "+14155550142"}, "FriendlyName", 64),
        ("SMS/ShortCodes.json", {"ShortCode": "55501"}, "FriendlyName", 64),
        ("Keys.json", {}, "FriendlyName", 64),
        ("IncomingPhoneNumbers.json", {"PhoneNumber": "+14155550143"}, "SmsApplicationSid", 34),
        ("IncomingPhoneNumbers.json", {"PhoneNumber": "+14155550144"}, "Anything", 256),
        ("/v1/Services", {}, "FriendlyName", 64),
        ("/v1/Services/{service}/PhoneNumbers", {}, "PhoneNumberSid", 34),
        ("/v1/Services/{service}/AlphaSenders", {}, "AlphaSender", 64),
        ("/v1/Services/{service}/AlphaSenders", {"AlphaSender": "Acme"}, "RegisteredIn", 1024),
    ],
)
def test_other_resources_refuse_a_long_parameter_with_20001(
    edge: Edge, path: str, form: dict[str, str], name: str, limit: int
) -> None:
    """Issue 10 #4: FriendlyName of 5 MB on numbers was stored and echoed (and PostgreSQL
    refused a long one with a 500)."""
    url = path.format(service=edge.service_sid) if path.startswith("/") else f"{edge.a}/{path}"
    over = edge.http.post(url, data={**form, name: "A" * (limit + 1)})
    body = error_of(over, 400, 20001)
    assert name in body["message"] and str(limit) in body["message"]


def test_a_long_parameter_name_and_too_many_parameters(edge: Edge) -> None:
    error_of(edge.send(**SEND, **{"N" * 65: "x"}), 400, 20001)
    many = urlencode([*SEND.items(), *[("X", "")] * 1000]).encode()
    response = edge.http.post(
        f"{edge.a}/Messages.json",
        content=many,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "1000 parameters" in error_of(response, 400, 20001)["message"]


def test_a_query_parameter_beyond_its_length(edge: Edge) -> None:
    listed = edge.http.get(f"{edge.a}/Messages.json", params={"To": "+" + "1" * 64})
    error_of(listed, 400, 21658)
    long_name = {"FriendlyName": "n" * 65}
    numbers = edge.http.get(f"{edge.a}/IncomingPhoneNumbers.json", params=long_name)
    error_of(numbers, 400, 20001)


# -- 4. Integers and path parameters no column holds ------------------------------------


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("Messages.json", {**SEND, "Attempt": "99999999999999999999999999"}),
        ("Messages.json", {**SEND, "Attempt": "2147483648"}),
        ("Messages.json", {**SEND, "Attempt": "-2147483649"}),
        ("Messages.json", {**SEND, "Attempt": "²"}),
        ("Messages.json", {**SEND, "Attempt": " 1"}),
        ("Messages.json", {**SEND, "MaxPrice": "1e5555555"}),
        ("IncomingPhoneNumbers.json", {"PhoneNumber": "+14155550145", "Mps": "9" * 30}),
        ("/v1/Services", {"FriendlyName": "n", "ValidityPeriod": "9" * 30}),
    ],
)
def test_an_integer_beyond_its_column_is_400(edge: Edge, path: str, form: dict[str, str]) -> None:
    """Issue 10 #6: `Attempt=99999999999999999999999999` overflowed PostgreSQL's integer."""
    url = path if path.startswith("/") else f"{edge.a}/{path}"
    response = edge.http.post(url, data=form)
    assert (
        response.status_code == 400
        and spec.error_problems(response, 400, response.json()["code"]) == []
    ), response.text
    assert response.json()["code"] in (20001, 21624)


@pytest.mark.parametrize("query", ["PageSize=²", "Page=99999999999999999999", "PageSize=1e3"])
def test_a_paging_integer_beyond_its_column_is_400(edge: Edge, query: str) -> None:
    error_of(edge.http.get(f"{edge.a}/Messages.json?{query}"), 400, 20001)


@pytest.mark.parametrize(
    "path",
    [
        "/herald/v1/Accounts/{AC}/DeadLetters/99999999999999999999999/Retry.json",
        "/herald/v1/Accounts/{AC}/DeadLetters/%C2%B2/Retry.json",
        "/herald/v1/Accounts/{AC}/DeadLetters/" + "9" * 5000 + "/Retry.json",
        "/herald/v1/Accounts/{AC}/DeadLetters/-1/Retry.json",
        "/2010-04-01/Accounts/{AC}/Messages/SM" + "0" * 33 + ".json",
        "/2010-04-01/Accounts/{AC}/Messages/SM%C2%B2.json",
        "/2010-04-01/Accounts/{AC}/Messages/" + "S" * 5000 + ".json",
        "/2010-04-01/Accounts/{AC}/Messages/SM" + UNKNOWN + "%0A.json",
        "/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers/%F0%9F%98%80.json",
        "/2010-04-01/Accounts/" + "A" * 5000 + "/Messages.json",
        "/v1/Services/" + "MG" + "z" * 32,
        "/v1/Services/{MG}/StickyMappings/" + "1" * 65,
        "/m/" + "c" * 65,
    ],
)
def test_a_malformed_path_parameter_is_404_without_the_database(edge: Edge, path: str) -> None:
    """Issue 10 #6: a 23-digit dead letter id was a 500 (bigint overflow), `²` too."""
    url = path.format(AC=edge.account_sid, MG=edge.service_sid)
    for method in ("GET", "POST"):
        response = edge.http.request(method, url)
        if response.status_code == 405:
            continue
        body = error_of(response, 404, 20404)
        assert len(body["message"]) < 200


# -- 6. Lenient parsing -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"To=%2B14155550111&From=%2B14155550100&Body=%FF%FE",  # escaped, not UTF-8
        b"To=%2B14155550111&From=%2B14155550100&Body=\xff\xfe",  # raw, not UTF-8
        b"To=%2B14155550111&From=%2B14155550100&Body=%ED%A0%80",  # a UTF-8 surrogate
        b"To=%2B14155550111&From=%2B14155550100&Body=caf%C3",  # cut mid-character
    ],
)
def test_invalid_utf8_is_refused_never_replaced(edge: Edge, content: bytes) -> None:
    """Issue 10 #13: invalid UTF-8 silently became U+FFFD and was sent."""
    before = edge.stored()
    response = edge.http.post(
        f"{edge.a}/Messages.json",
        content=content,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "UTF-8" in error_of(response, 400, 20001)["message"]
    assert edge.stored() == before


def test_invalid_utf8_in_a_query_is_refused(edge: Edge) -> None:
    error_of(edge.http.get(f"{edge.a}/Messages.json?To=%FF"), 400, 20001)


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/x-www-form-urlencoded", True),
        ("application/x-www-form-urlencoded; charset=utf-8", True),
        ('Application/X-WWW-Form-Urlencoded;charset="UTF-8"', True),
        ("application/x-www-form-urlencoded;", True),
        ("application/x-www-form-urlencodedXYZ", False),
        ("application/x-www-form-urlencoded; charset=iso-8859-1", False),
        ("application/x-www-form-urlencoded; charset", False),
        ("application/json", False),
        ("text/plain", False),
        ("", False),
    ],
)
def test_the_media_type_is_parsed_not_prefix_matched(
    edge: Edge, content_type: str, accepted: bool
) -> None:
    response = edge.http.post(
        f"{edge.a}/Messages.json",
        content=urlencode(SEND).encode(),
        headers={"Content-Type": content_type},
    )
    if accepted:
        assert response.status_code == 201, response.text
    else:
        error_of(response, 400, 20001)


@pytest.mark.parametrize(
    ("media", "code"),
    [
        (["javascript:alert(1)"], 21620),
        (["https://e.com/a.jpg"] * 11, 21623),
        (["https://e.com/a.jpg"] * 990, 21623),
        (["https://e.com/" + "a" * 2040], 21620),
    ],
)
def test_preview_validates_media_as_a_send_does(edge: Edge, media: list[str], code: int) -> None:
    """Issue 10 #13: Preview accepted `MediaUrl=javascript:…` and 10,000 MediaUrls."""
    preview = f"/v1/Services/{edge.service_sid}/Preview"
    form = {"To": TO, "Body": "x", "MediaUrl": media}
    error_of(edge.http.post(preview, data=form), 400, code)
    error_of(edge.send(To=TO, From=SENDER, Body="x", MediaUrl=media), 400, code)


def test_preview_of_ten_thousand_media_is_refused_by_size(edge: Edge) -> None:
    preview = f"/v1/Services/{edge.service_sid}/Preview"
    form = {"To": TO, "Body": "x", "MediaUrl": ["https://e.com/a.jpg"] * 10_000}
    error_of(edge.http.post(preview, data=form), 413, 20413)


@pytest.mark.parametrize(
    "path",
    [
        "{a}/Messages.json",
        "{a}/IncomingPhoneNumbers.json",
        "{a}/SMS/ShortCodes.json",
        "{a}/Keys.json",
        "/herald/v1/Accounts/{account}/DeadLetters.json",
        "/v1/Services",
        "/v1/Services/{service}/PhoneNumbers",
        "/v1/Services/{service}/StickyMappings",
        "/v1/Alerts",
    ],
)
@pytest.mark.parametrize(
    "token",
    [
        "PASM" + UNKNOWN,
        "PBSM" + UNKNOWN,
        "PA1",
        "PA+14155550100",
        "PAxyz!",
        "XX" + UNKNOWN,
        "PASM" + UNKNOWN + "0",  # longer than any token
    ],
)
def test_an_unknown_page_token_is_400_on_every_list(edge: Edge, path: str, token: str) -> None:
    """Issue 10 #13: an unknown PageToken answered an empty page. On every list, one that
    is malformed or names no record of the caller's list is refused."""
    url = path.format(a=edge.a, account=edge.account_sid, service=edge.service_sid)
    response = edge.http.get(url, params={"PageToken": token, "Page": "1"})
    assert "PageToken" in error_of(response, 400, 20001)["message"]


def test_a_token_the_server_issued_still_pages(edge: Edge) -> None:
    for i in range(3):
        assert edge.send(To=TO, From=SENDER, Body=f"page {i}").status_code == 201
    first = edge.http.get(f"{edge.a}/Messages.json", params={"PageSize": "1"}).json()
    second = edge.http.get(first["next_page_uri"])
    assert second.status_code == 200 and len(second.json()["messages"]) == 1
    back = edge.http.get(second.json()["previous_page_uri"])
    assert back.json()["messages"] == first["messages"]
    quoted = quote(first["next_page_uri"].split("PageToken=")[1])
    assert quoted.startswith("PA")
