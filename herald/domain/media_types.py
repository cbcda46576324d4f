"""Which fetched media an MMS may carry (reference §12; Twilio's "Accepted content types
for media"): a `Content-Type` from Twilio's accepted list, bytes that are what it says
(a declared image/png that is really an HTML page is refused), an image Twilio resizes
(jpeg, jpg, gif, png) up to 5 MB, any other accepted type up to 500 KB, and the message
with all its media up to 5 MB.

Twilio answers a bad `MediaUrl` at the create (21620, 400) and a media it cannot fetch
or that is too large later, failing the message (63019, 11751). Herald fetches the media
during the create, so it answers all of them there, with nothing stored or queued:

- 21620 (400): not an absolute http(s) URL; an address the webhook target policy
  refuses, or a redirect to one or to a URL that is not http(s); a `Content-Type` outside
  the accepted list; a `Content-Type` the bytes contradict.
- 63019 (400): the media could not be downloaded: no answer, an answer that is not 2xx,
  more redirects than are followed, too slow.
- 11751 (400): too large, one media or all together (Twilio's MMS limit, 5 MB).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from herald.domain import errors

MAX_TOTAL = 5 * 1024 * 1024  # the message and all its media
MAX_IMAGE = 5 * 1024 * 1024  # an image Twilio resizes
MAX_OTHER = 500 * 1024  # any other accepted type

Check = Callable[[bytes], bool]


class MediaDownloadFailed(errors.TwilioError):
    """Media failed to download"""

    code = 63019
    status = 400


class MediaTooLarge(errors.TwilioError):
    """Media exceeds the messaging provider's size limit (MMS: 5 MB)"""

    code = 11751
    status = 400


def _at(offset: int, magic: bytes) -> Check:
    return lambda body: body[offset : offset + len(magic)] == magic


def _starts_text(prefix: bytes) -> Check:
    """Text that starts with `prefix` (any case), after a byte-order mark and blanks."""
    return lambda body: _text_start(body).upper().startswith(prefix)


def _all(*checks: Check) -> Check:
    return lambda body: all(check(body) for check in checks)


def _text_start(body: bytes) -> bytes:
    return body[:512].removeprefix(b"\xef\xbb\xbf").lstrip()


# What the first bytes of each kind of file are; a kind is one format, whatever it is
# called (the ISO base media file format holds mp4, QuickTime and 3GPP alike).
_JPEG = (_at(0, b"\xff\xd8\xff"),)
_ISO_MEDIA = tuple(_at(4, box) for box in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"))
_MPEG_AUDIO = (_at(0, b"ID3"), *(_at(0, b"\xff" + bytes([b])) for b in b"\xfb\xfa\xf3\xf2\xe3\xe2"))
_KINDS: dict[str, tuple[Check, ...]] = {
    "jpeg": _JPEG,
    "png": (_at(0, b"\x89PNG\r\n\x1a\n"),),
    "gif": (_at(0, b"GIF87a"), _at(0, b"GIF89a")),
    "bmp": (_at(0, b"BM"),),
    "tiff": (_at(0, b"II*\x00"), _at(0, b"MM\x00*")),
    "pdf": (_at(0, b"%PDF-"),),
    "zip": (_at(0, b"PK\x03\x04"),),  # an Apple Wallet pass is a zip archive
    "iso-media": _ISO_MEDIA,
    "ebml": (_at(0, b"\x1a\x45\xdf\xa3"),),  # WebM
    "ogg": (_at(0, b"OggS"),),
    "wave": (_all(_at(0, b"RIFF"), _at(8, b"WAVE")),),
    "amr": (_at(0, b"#!AMR"),),
    "ac3": (_at(0, b"\x0b\x77"),),
    "realaudio": (_at(0, b".ra\xfd"), _at(0, b".RMF")),
    "mpeg-audio": _MPEG_AUDIO,
    "mpeg-video": (_at(0, b"\x00\x00\x01\xba"), _at(0, b"\x00\x00\x01\xb3")),
    "vcard": (_starts_text(b"BEGIN:VCARD"),),
    "calendar": (_starts_text(b"BEGIN:VCALENDAR"),),
    "rtf": (_starts_text(b"{\\RTF"),),
    "markup": tuple(
        _starts_text(tag)
        for tag in (b"<!DOCTYPE", b"<HTML", b"<HEAD", b"<BODY", b"<SCRIPT", b"<?XML", b"<SVG")
    ),
}

# Twilio's accepted types, each with the kind its bytes must be (None: a format with no
# signature to check; its bytes must then be no other known kind).
_ACCEPTED: dict[str, str | None] = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/png": "png",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "audio/basic": None,
    "audio/L24": None,
    "audio/mp4": "iso-media",
    "audio/mpeg": "mpeg-audio",
    "audio/ogg": "ogg",
    "audio/vnd.rn-realaudio": "realaudio",
    "audio/vnd.wave": "wave",
    "audio/3gpp": "iso-media",
    "audio/3gpp2": "iso-media",
    "audio/ac3": "ac3",
    "audio/webm": "ebml",
    "audio/amr-nb": "amr",
    "audio/amr": "amr",
    "video/mpeg": "mpeg-video",
    "video/mp4": "iso-media",
    "video/quicktime": "iso-media",
    "video/webm": "ebml",
    "video/3gpp": "iso-media",
    "video/3gpp2": "iso-media",
    "video/3gpp-tt": "iso-media",
    "video/H261": None,
    "video/H263": None,
    "video/H263-1998": None,
    "video/H263-2000": None,
    "video/H264": None,
    "text/vcard": "vcard",
    "text/x-vcard": "vcard",
    "text/csv": None,
    "text/rtf": "rtf",
    "text/richtext": None,
    "text/calendar": "calendar",
    "text/directory": None,
    "application/pdf": "pdf",
    "application/vcard": "vcard",
    "application/vnd.apple.pkpass": "zip",
}
_CANONICAL = {name.lower(): name for name in _ACCEPTED}
RESIZED_IMAGES = frozenset({"image/jpeg", "image/jpg", "image/gif", "image/png"})
ACCEPTED = frozenset(_ACCEPTED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """One `MediaUrl` as fetched: its `Content-Type` as the server gave it, and its bytes."""

    url: str
    content_type: str
    body: bytes


def accepted_type(content_type: str) -> str | None:
    """The accepted type a `Content-Type` names (parameters dropped, Twilio's spelling),
    or None when MMS does not take it."""
    essence = content_type.split(";", 1)[0].strip().lower()
    return _CANONICAL.get(essence)


def kind_of(body: bytes) -> str | None:
    """The kind of file `body` starts like, if it is one Herald knows."""
    return next((kind for kind, checks in _KINDS.items() if any(c(body) for c in checks)), None)


def is_what_it_says(media_type: str, body: bytes) -> bool:
    """Whether `body` can be the accepted type `media_type`: it starts like one, or, for a
    type without a signature, like nothing else Herald knows (text without NUL bytes)."""
    kind = _ACCEPTED[media_type]
    if kind is not None:
        return any(check(body) for check in _KINDS[kind])
    if media_type.startswith("text/") and b"\x00" in body:
        return False
    return kind_of(body) is None


def limit_of(media_type: str) -> int:
    return MAX_IMAGE if media_type in RESIZED_IMAGES else MAX_OTHER


def judge(fetched: Sequence[Fetched], text: str = "") -> tuple[str, ...]:
    """The accepted type of each media, in `MediaUrl` order; the first refusal is raised
    (21620 for a type, 11751 for a size), then the total's (11751)."""
    types = tuple(_judge_one(item) for item in fetched)
    total = len(text.encode()) + sum(len(item.body) for item in fetched)
    if total > MAX_TOTAL:
        raise MediaTooLarge(
            f"The message and its media are {total} bytes; an MMS may have at most "
            f"{MAX_TOTAL} (5 MB)."
        )
    return types


def _judge_one(item: Fetched) -> str:
    media_type = accepted_type(item.content_type)
    if media_type is None:
        shown = item.content_type or "none"
        raise errors.InvalidMediaUrl(
            f"Media urls: {item.url} are invalid. Its Content-Type ({shown}) is not one "
            "MMS accepts."
        )
    if not is_what_it_says(media_type, item.body):
        raise errors.InvalidMediaUrl(
            f"Media urls: {item.url} are invalid. Its Content-Type ({media_type}) does "
            "not match the media."
        )
    limit = limit_of(media_type)
    if len(item.body) > limit:
        raise MediaTooLarge(
            f"The media at {item.url} is {len(item.body)} bytes; {media_type} may have at "
            f"most {limit}."
        )
    return media_type
