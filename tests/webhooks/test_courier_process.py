"""Callbacks signed and posted by helper processes: real child processes, a real
receiver, the official validator; a helper killed mid-request loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from twilio.request_validator import RequestValidator

from herald.webhooks.courier_process import ProcessCourier, encode_frame, take_frames
from herald.webhooks.http import WebhookFailure
from herald.webhooks.signer import Envelope
from tests.webhooks.receiver import Receiver, Reply

TOKEN = "12345678901234567890123456789012"


def envelope(url: str, sequence: int = 1) -> Envelope:
    return Envelope(
        url=url,
        method="POST",
        params=(("MessageSid", "SM1"), ("MessageStatus", "sent"), ("To", "+14155550100")),
        message_sid="SM1",
        sequence=sequence,
        event_time=1_700_000_000_000_000,
    )


def test_frames_survive_any_split() -> None:
    stream = encode_frame([1, "a", None]) + encode_frame({"é": [2]}) + encode_frame([])
    for cut in range(len(stream) + 1):
        buffer = bytearray(stream[:cut])
        frames = take_frames(buffer)
        buffer += stream[cut:]
        frames += take_frames(buffer)
        assert frames == [[1, "a", None], {"é": [2]}, []]
        assert buffer == b""


def test_helpers_sign_and_post_and_exit_with_the_server() -> None:
    async def scenario() -> list[int]:
        with Receiver() as receiver:
            async with ProcessCourier.open(
                2, concurrency=8, timeout_s=5.0, allow_private=True
            ) as courier:
                pids = courier.pids
                assert len(pids) == 2 and os.getpid() not in pids
                url = receiver.url + "/status?x=1"
                statuses = await asyncio.gather(
                    *(courier.deliver(envelope(url, n), TOKEN) for n in range(1, 21))
                )
            requests = receiver.wait_for(20)
        assert statuses == [200] * 20
        validator = RequestValidator(TOKEN)
        for request in requests:
            assert validator.validate(
                url, dict(request.form), request.headers["x-twilio-signature"]
            )
        assert sorted(int(r.headers["x-herald-sequence"]) for r in requests) == list(range(1, 21))
        return pids

    pids = asyncio.run(scenario())
    for pid in pids:  # stopped with the courier: no helper outlives the server
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_helper_killed_mid_request_fails_it_then_is_replaced() -> None:
    async def scenario() -> None:
        with Receiver() as receiver:
            receiver.plan(Reply(delay=3.0))
            async with ProcessCourier.open(
                1, concurrency=4, timeout_s=10.0, allow_private=True
            ) as courier:
                (pid,) = courier.pids
                pending = asyncio.ensure_future(courier.deliver(envelope(receiver.url), TOKEN))
                await asyncio.to_thread(receiver.wait_for, 1)
                os.kill(pid, signal.SIGKILL)
                with pytest.raises(WebhookFailure, match="helper process lost"):
                    await pending
                # Within a second of the death it is not restarted: this process posts.
                assert courier.pids == []
                assert await courier.deliver(envelope(receiver.url, 2), TOKEN) == 200
                await asyncio.sleep(1.1)
                assert await courier.deliver(envelope(receiver.url, 3), TOKEN) == 200
                (replacement,) = courier.pids
                assert replacement != pid
            assert receiver.wait_for(3)[-1].headers["x-herald-sequence"] == "3"

    asyncio.run(scenario())


def test_helpers_apply_the_target_policy() -> None:
    async def scenario() -> None:
        with Receiver() as receiver:
            by_name = f"http://localhost:{receiver.port}/cb"
            async with ProcessCourier.open(
                1, concurrency=4, timeout_s=5.0, allow_private=False
            ) as strict:
                assert strict.pids  # the helper posts, not this process
                for url in (receiver.url + "/cb", by_name):
                    with pytest.raises(WebhookFailure, match="refused by the target policy"):
                        await strict.deliver(envelope(url), TOKEN)
            assert receiver.count == 0
            async with ProcessCourier.open(
                1, concurrency=4, timeout_s=5.0, allow_private=True
            ) as relaxed:
                assert relaxed.pids
                assert await relaxed.deliver(envelope(by_name), TOKEN) == 200
            assert receiver.wait_for(1)[0].headers["host"] == f"localhost:{receiver.port}"

    asyncio.run(scenario())
