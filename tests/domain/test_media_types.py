"""Which fetched media an MMS may carry: Twilio's accepted types, bytes that are what
their Content-Type says, and the size limits — without a server."""

from __future__ import annotations

import pytest

from herald.domain import errors
from herald.domain.media_types import (
    ACCEPTED,
    MAX_IMAGE,
    MAX_OTHER,
    MAX_TOTAL,
    RESIZED_IMAGES,
    Fetched,
    MediaDownloadFailed,
    MediaTooLarge,
    accepted_type,
    is_what_it_says,
    judge,
    kind_of,
    limit_of,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"
HTML = b"\xef\xbb\xbf\n  <!doctype html><html><body>log in</body></html>"

# A body of each accepted type that has a signature.
SAMPLES = {
    "image/jpeg": JPEG,
    "image/jpg": JPEG,
    "image/gif": b"GIF89a\x01\x00",
    "image/png": PNG,
    "image/bmp": b"BM6\x00\x00\x00",
    "image/tiff": b"MM\x00*\x00\x00",
    "audio/mp4": b"\x00\x00\x00\x20ftypM4A ",
    "audio/mpeg": b"\xff\xfb\x90\x64",
    "audio/ogg": b"OggS\x00\x02",
    "audio/vnd.rn-realaudio": b".ra\xfd\x00\x04",
    "audio/vnd.wave": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "audio/3gpp": b"\x00\x00\x00\x18ftyp3gp4",
    "audio/3gpp2": b"\x00\x00\x00\x18ftyp3g2a",
    "audio/ac3": b"\x0b\x77\x00\x00",
    "audio/webm": b"\x1a\x45\xdf\xa3\x9f",
    "audio/amr-nb": b"#!AMR\n",
    "audio/amr": b"#!AMR\n",
    "video/mpeg": b"\x00\x00\x01\xba\x44",
    "video/mp4": b"\x00\x00\x00\x20ftypisom",
    "video/quicktime": b"\x00\x00\x00\x08wide",
    "video/webm": b"\x1a\x45\xdf\xa3\x9f",
    "video/3gpp": b"\x00\x00\x00\x18ftyp3gp5",
    "video/3gpp2": b"\x00\x00\x00\x18ftyp3g2a",
    "video/3gpp-tt": b"\x00\x00\x00\x18ftyp3gp6",
    "text/vcard": b"begin:vcard\r\nVERSION:4.0\r\nEND:VCARD",
    "text/x-vcard": b"\xef\xbb\xbfBEGIN:VCARD",
    "text/rtf": b"{\\rtf1\\ansi hello}",
    "text/calendar": b"BEGIN:VCALENDAR\r\n",
    "application/pdf": b"%PDF-1.7\n",
    "application/vcard": b"BEGIN:VCARD",
    "application/vnd.apple.pkpass": b"PK\x03\x04\x14\x00",
}
UNSIGNED = sorted(ACCEPTED - SAMPLES.keys())


def test_every_accepted_type_is_sampled_or_has_no_signature() -> None:
    assert UNSIGNED == [
        "audio/L24",
        "audio/basic",
        "text/csv",
        "text/directory",
        "text/richtext",
        "video/H261",
        "video/H263",
        "video/H263-1998",
        "video/H263-2000",
        "video/H264",
    ]
    assert RESIZED_IMAGES <= ACCEPTED


@pytest.mark.parametrize(("given", "accepted"), [
    ("image/png", "image/png"),
    ("IMAGE/PNG; charset=binary", "image/png"),
    (" video/h264 ", "video/H264"),
    ("audio/l24;rate=8000", "audio/L24"),
    ("text/html", None),
    ("image/webp", None),
    ("application/octet-stream", None),
    ("", None),
])  # fmt: skip
def test_accepted_type_is_the_content_types_essence_in_twilios_spelling(
    given: str, accepted: str | None
) -> None:
    assert accepted_type(given) == accepted


@pytest.mark.parametrize(("media_type", "body"), SAMPLES.items())
def test_each_signed_type_takes_its_own_bytes_and_not_html(media_type: str, body: bytes) -> None:
    assert is_what_it_says(media_type, body)
    assert not is_what_it_says(media_type, HTML)
    assert not is_what_it_says(media_type, b"")


@pytest.mark.parametrize("media_type", UNSIGNED)
def test_an_unsigned_type_takes_bytes_that_are_no_other_kind(media_type: str) -> None:
    assert is_what_it_says(media_type, b"\x80\x01 raw payload")
    assert not is_what_it_says(media_type, PNG)
    assert not is_what_it_says(media_type, HTML)


def test_text_without_a_signature_has_no_nul_bytes() -> None:
    assert is_what_it_says("text/csv", b"a,b\r\n1,2\r\n")
    assert not is_what_it_says("text/csv", b"a,b\x00\r\n")
    assert is_what_it_says("video/H264", b"\x00\x00\x00\x01\x67")  # binary is fine there


def test_kind_of_names_what_the_bytes_start_like() -> None:
    assert kind_of(PNG) == "png"
    assert kind_of(b"<svg xmlns='http://www.w3.org/2000/svg'/>") == "markup"
    assert kind_of(b"<?xml version='1.0'?>") == "markup"
    assert kind_of(b"ID3\x04") == "mpeg-audio"
    assert kind_of(b"plain words") is None


def test_limits_are_5_mb_for_resized_images_and_500_kb_for_the_rest() -> None:
    assert [limit_of(t) for t in ("image/jpeg", "image/png", "image/bmp", "video/mp4")] == [
        MAX_IMAGE,
        MAX_IMAGE,
        MAX_OTHER,
        MAX_OTHER,
    ]
    assert MAX_IMAGE == MAX_TOTAL == 5 * 1024 * 1024 and MAX_OTHER == 500 * 1024


def _fetched(content_type: str, body: bytes, name: str = "a") -> Fetched:
    return Fetched(url=f"https://e.com/{name}", content_type=content_type, body=body)


def test_judge_gives_each_type_in_order() -> None:
    items = [_fetched("image/JPG", JPEG), _fetched("text/vcard; charset=utf-8", b"BEGIN:VCARD")]
    assert judge(items, "hi") == ("image/jpg", "text/vcard")
    assert judge([]) == ()


def test_judge_raises_the_first_refusal_with_twilios_code() -> None:
    with pytest.raises(errors.InvalidMediaUrl, match=r"e\.com/b.*\(text/html\) is not one"):
        judge([_fetched("image/png", PNG), _fetched("text/html", HTML, "b")])
    with pytest.raises(errors.InvalidMediaUrl, match=r"\(none\) is not one"):
        judge([_fetched("", PNG)])
    with pytest.raises(errors.InvalidMediaUrl, match="does not match the media"):
        judge([_fetched("image/png", HTML), _fetched("text/plain", b"x")])
    with pytest.raises(MediaTooLarge, match="image/bmp may have at most"):
        judge([_fetched("image/bmp", b"BM" + bytes(MAX_OTHER))])
    assert judge([_fetched("image/png", PNG + bytes(MAX_IMAGE - len(PNG)))]) == ("image/png",)


def test_the_message_and_its_media_together_are_at_most_5_mb() -> None:
    half = _fetched("image/png", PNG + bytes(MAX_TOTAL // 2 - len(PNG)))
    assert judge([half, half]) == ("image/png", "image/png")
    with pytest.raises(MediaTooLarge, match="at most") as refused:
        judge([half, half], "x")
    assert (refused.value.code, refused.value.status) == (11751, 400)
    assert (MediaDownloadFailed.code, MediaDownloadFailed.status) == (63019, 400)
