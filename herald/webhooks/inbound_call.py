"""One inbound webhook call as Twilio makes it (§10.1–10.3): the primary URL, its
`<Redirect>`s, and on failure the fallback URL at once with `ErrorCode` and `ErrorUrl`;
each request signed (`X-Twilio-Signature`) and carrying the message's idempotency token.
The answer is untrusted: read up to 64 KiB plus one byte (more is 11750), parsed by
`domain.twiml` (defusedxml)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from herald.domain import twiml
from herald.domain.inbound import InboundWebhook
from herald.webhooks.http import AnswerTooLarge, HttpClient, WebhookFailure
from herald.webhooks.signer import signed_request

log = logging.getLogger("herald.webhooks")

RETRIEVAL_FAILURE = 11200  # no answer, or not a 2xx
TIMEOUT = 11205
MAX_REDIRECTS = 10
CONNECT_TIMEOUT_S = 5.0
TIMEOUT_S = 15.0  # Twilio's total for one request (§9.4)
CHAIN_S = 45.0  # a URL and its redirects; the primary and the fallback stay within a lease


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    code: int
    url: str
    detail: str  # for the operator and the alert; never the receiver's body
    retry: bool  # no answer or not a 2xx: worth another attempt later


@dataclass(slots=True, kw_only=True)
class Exchange:
    """What came of calling one webhook: the replies to send (possibly none), or why not."""

    messages: list[twiml.ReplyMessage] = field(default_factory=list)
    answered_by: str | None = None
    status_code: int | None = None
    twiml: str | None = None
    failures: list[Failure] = field(default_factory=list)
    warnings: list[int] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.answered_by is not None

    @property
    def retry(self) -> bool:
        return not self.answered and any(f.retry for f in self.failures)


class _Failed(Exception):
    def __init__(self, failure: Failure, status_code: int | None = None) -> None:
        self.failure = failure
        self.status_code = status_code


class InboundCaller:
    def __init__(self, client: HttpClient) -> None:
        self._client = client

    @classmethod
    @asynccontextmanager
    async def open(
        cls, *, allow_private: bool, timeout_s: float = TIMEOUT_S
    ) -> AsyncIterator[InboundCaller]:
        client = HttpClient(
            timeout_s=timeout_s,
            connect_timeout_s=CONNECT_TIMEOUT_S,
            allow_private=allow_private,
            max_body=twiml.MAX_BYTES,
        )
        try:
            yield cls(client)
        finally:
            await client.aclose()

    async def call(self, job: InboundWebhook) -> Exchange:
        exchange = Exchange()
        target = job.target
        try:
            await self._chain(exchange, job, target.url, target.method, job.params)
            return exchange
        except _Failed as exc:
            exchange.failures.append(exc.failure)
            exchange.status_code = exc.status_code
            exchange.messages.clear()
        if not target.fallback_url:
            return exchange
        first = exchange.failures[0]
        params = (*job.params, ("ErrorCode", str(first.code)), ("ErrorUrl", first.url))
        try:
            await self._chain(exchange, job, target.fallback_url, target.fallback_method, params)
        except _Failed as exc:
            exchange.failures.append(exc.failure)
            exchange.status_code = exc.status_code
            exchange.messages.clear()
        return exchange

    async def _chain(
        self,
        exchange: Exchange,
        job: InboundWebhook,
        url: str,
        method: str,
        params: Sequence[tuple[str, str]],
    ) -> None:
        """`_follow` within `CHAIN_S`: a slow chain of redirects is a timeout (11205)."""
        try:
            async with asyncio.timeout(CHAIN_S):
                await self._follow(exchange, job, url, method, params)
        except TimeoutError:
            detail = f"no answer within {CHAIN_S:g}s, redirects included"
            raise _Failed(Failure(code=TIMEOUT, url=url, detail=detail, retry=True)) from None

    async def _follow(
        self,
        exchange: Exchange,
        job: InboundWebhook,
        url: str,
        method: str,
        params: Sequence[tuple[str, str]],
    ) -> None:
        """Request `url`, then each `<Redirect>` it leads to; the replies of every document
        on the way are kept, in order."""
        for _ in range(MAX_REDIRECTS + 1):
            status, content_type, body = await self._request(job, url, method, params)
            exchange.status_code = status
            try:
                document = twiml.parse_reply(content_type, body, base_url=url)
            except twiml.TwimlError as exc:
                raise _Failed(
                    Failure(code=exc.code, url=url, detail=exc.detail, retry=False), status
                ) from None
            exchange.messages.extend(document.messages)
            exchange.warnings.extend(document.warnings)
            exchange.twiml = body.decode("utf-8", "replace").replace("\x00", "\ufffd")
            if document.redirect is None:
                exchange.answered_by = url
                return
            url, method = document.redirect.url, document.redirect.method
        raise _Failed(
            Failure(code=12100, url=url, detail=f"more than {MAX_REDIRECTS} redirects", retry=False)
        )

    async def _request(
        self, job: InboundWebhook, url: str, method: str, params: Sequence[tuple[str, str]]
    ) -> tuple[int, str | None, bytes]:
        request = signed_request(
            method,
            url,
            params,
            job.auth_token,
            {
                "Accept": "text/xml, application/xml, text/html, text/plain",
                "I-Twilio-Idempotency-Token": job.token,
            },
        )
        try:
            answer = await self._client.fetch(
                request.method, request.url, request.headers, request.body
            )
        except AnswerTooLarge:
            raise _Failed(
                Failure(code=11750, url=url, detail="the answer was over 64 KiB", retry=False)
            ) from None
        except WebhookFailure as exc:
            timed_out = "timed out" in str(exc)
            log.info("inbound webhook %s for %s: %s", url, job.message_sid, exc)
            code = TIMEOUT if timed_out else RETRIEVAL_FAILURE
            raise _Failed(Failure(code=code, url=url, detail=str(exc), retry=True)) from None
        if not 200 <= answer.status < 300:
            raise _Failed(
                Failure(
                    code=RETRIEVAL_FAILURE, url=url, detail=f"HTTP {answer.status}", retry=True
                ),
                answer.status,
            )
        return answer.status, answer.header("content-type"), answer.body

    async def aclose(self) -> None:
        await self._client.aclose()
