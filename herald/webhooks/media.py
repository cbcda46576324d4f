"""Fetching a message's media: each `MediaUrl` of an MMS at its create (`fetch_all`, the
refusals of domain/media_types.py), and for the MMS Converter's links (`/m/{code}`) when
no copy was kept, so that a link serves the media itself and never reveals its URL
(which may carry a query token).

The fetch goes through the webhook HTTP client, so the webhook target policy applies to
every hop: up to `MAX_REDIRECTS` redirects are followed, each to an absolute http(s) URL
checked like the first. An answer is kept up to Twilio's MMS limit (5 MB); a few fetches
run at once, so the memory they hold is bounded. Why a fetch failed goes to the log;
the caller only learns that it did.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

from herald.domain import errors
from herald.domain.media_types import Fetched, MediaDownloadFailed, MediaTooLarge
from herald.domain.outbound import MAX_MEDIA_URL, is_http_url
from herald.webhooks.http import AnswerTooLarge, HttpClient, TargetRefused, WebhookFailure
from herald.webhooks.signer import USER_AGENT

log = logging.getLogger("herald.webhooks")

MAX_BYTES = 5 * 1024 * 1024  # Twilio's MMS media limit (reference §3.2: 11751, 63034)
MAX_REDIRECTS = 3
TIMEOUT_S = 15.0  # Twilio's webhook read timeout (reference §9.4), for the whole fetch
CONNECT_TIMEOUT_S = 5.0
AT_ONCE = 8  # fetches in progress: at most this many answers of MAX_BYTES held
REDIRECTS = frozenset({301, 302, 303, 307, 308})
FALLBACK_TYPE = "application/octet-stream"
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(?:\s*;[ -~]*)?")
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*"}


class MediaFailure(Exception):
    """No media was fetched from an answer: the message says why, for the log only."""


class MediaRefused(MediaFailure):
    """A redirect to a URL Herald does not fetch (not http(s))."""


class _OverBudget(Exception):
    """The media fetched so far for one message are more than it may carry."""


@dataclass(frozen=True, slots=True)
class Media:
    content_type: str
    body: bytes


class MediaFetcher:
    """Fetches media with its own client (answers kept whole); `aclose` at shutdown."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_s: float = TIMEOUT_S,
        max_bytes: int = MAX_BYTES,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._client = HttpClient(
            timeout_s=timeout_s,
            connect_timeout_s=CONNECT_TIMEOUT_S,
            max_idle_per_origin=2,
            allow_private=allow_private,
            max_body=max_bytes,
            ssl_context=ssl_context,
        )
        self._slots = asyncio.Semaphore(AT_ONCE)

    async def fetch(self, url: str) -> Media:
        """The media at `url`, after redirects; 11200 (MediaUnavailable) when there is
        none, the reason logged for the operator only."""
        try:
            async with self._slots, asyncio.timeout(self._timeout_s):
                return await self._follow(url)
        except TimeoutError:
            reason = f"{url}: timed out after {self._timeout_s:g}s"
        except WebhookFailure as exc:
            reason = f"{url}: {exc}"
        except MediaFailure as exc:
            reason = str(exc)
        log.info("media link: could not fetch the media: %s", reason)
        raise errors.MediaUnavailable("The media could not be retrieved.")

    async def fetch_all(self, urls: Sequence[str], *, max_total: int) -> list[Fetched]:
        """Each URL's media, fetched at once, for an MMS's create: the first refusal in
        `MediaUrl` order is raised (21620, 63019, 11751), and 11751 as soon as the
        answers come to more than `max_total` bytes (the rest are then not awaited)."""
        found: list[Fetched | errors.TwilioError | None] = [None] * len(urls)
        total = 0

        async def one(n: int, url: str) -> None:
            nonlocal total
            try:
                found[n] = fetched = await self.download(url)
            except errors.TwilioError as exc:
                found[n] = exc
                return
            total += len(fetched.body)
            if total > max_total:
                raise _OverBudget

        try:
            async with asyncio.TaskGroup() as group:
                for n, url in enumerate(urls):
                    group.create_task(one(n, url))
        except* _OverBudget:
            raise MediaTooLarge(
                f"The media come to more than {max_total} bytes; an MMS may carry at most "
                f"{max_total} (5 MB)."
            ) from None
        for item in found:
            if not isinstance(item, Fetched):
                assert item is not None
                raise item
        return [item for item in found if isinstance(item, Fetched)]

    async def download(self, url: str) -> Fetched:
        """The media at `url` for a create, or why not as the create answers it: 21620
        for a target the policy refuses or a redirect away from http(s), 11751 beyond
        5 MB, 63019 for anything else (what exactly goes to the log)."""
        try:
            async with self._slots, asyncio.timeout(self._timeout_s):
                media = await self._follow(url)
        except TimeoutError:
            reason = f"no answer within {self._timeout_s:g}s"
        except (TargetRefused, MediaRefused) as exc:
            log.info("media: refused %s: %s", url, exc)
            raise errors.InvalidMediaUrl(
                f"Media urls: {url} are invalid. It leads to an address or URL this server "
                "does not fetch."
            ) from None
        except AnswerTooLarge:
            raise MediaTooLarge(
                f"The media at {url} is larger than an MMS may carry (5 MB)."
            ) from None
        except MediaFailure as exc:
            reason = str(exc)
        except WebhookFailure as exc:
            log.info("media: could not fetch %s: %s", url, exc)
            reason = "no answer"
        else:
            return Fetched(url=url, content_type=media.content_type, body=media.body)
        raise MediaDownloadFailed(f"The media at {url} could not be downloaded: {reason}.")

    async def _follow(self, url: str) -> Media:
        for _ in range(MAX_REDIRECTS + 1):
            answer = await self._client.fetch("GET", url, _HEADERS)
            location = answer.header("location")
            if answer.status in REDIRECTS and location:
                url = urljoin(url, location)
                if not is_http_url(url, max_length=MAX_MEDIA_URL):
                    raise MediaRefused(f"redirected to a URL Herald does not fetch: {url!r}")
                continue
            if not 200 <= answer.status < 300:
                raise MediaFailure(f"HTTP {answer.status} from {url}")
            return Media(content_type=content_type(answer.header("content-type")), body=answer.body)
        raise MediaFailure(f"more than {MAX_REDIRECTS} redirects")

    async def aclose(self) -> None:
        await self._client.aclose()


def content_type(given: str | None) -> str:
    """The upstream's Content-Type when it is a well-formed media type, else a neutral
    one: nothing else of the upstream's answer is passed on."""
    given = (given or "").strip()
    return given if _MEDIA_TYPE.fullmatch(given) else FALLBACK_TYPE
