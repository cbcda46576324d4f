"""The overflow rule for service sends (reference §8.2): the API accepts them all, and a
message whose chosen sender's queue is full fails with 30001 instead of being refused
with 21611."""

from __future__ import annotations

from tests.api.test_service_sending import Pool, number
from tests.conftest import Herald, eventually

SETTINGS = {"queue_horizon_s": 1}  # a 1-MPS long code holds one second: one segment


def test_a_full_queue_fails_service_sends_with_30001(herald: Herald) -> None:
    pool = Pool(herald)
    pool.add_number(number())
    sids = [pool.send("+14155550123", body=f"burst {i}").sid for i in range(6)]

    def settled() -> list[object] | None:
        found = [pool.client.messages(sid).fetch() for sid in sids]
        done = all(m.status in ("delivered", "failed") for m in found)
        return found if done else None

    final = eventually(settled, timeout=20)
    codes = sorted(str(m.error_code) for m in final if m.status == "failed")  # type: ignore[attr-defined]
    delivered = [m for m in final if m.status == "delivered"]  # type: ignore[attr-defined]
    assert codes and set(codes) == {"30001"}
    assert delivered
    assert len(codes) + len(delivered) == len(sids)
