"""Sender health end to end (beyond Twilio): a sender whose messages start failing is
taken out of service routing with a Monitor alert, still gets its probes, and is put
back with another alert once they are delivered; `SenderHealth.json` and `/metrics`
show it all, to its own account only."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

import httpx

from herald.domain.decisions import IMPAIRED, PROBE, REROUTED
from herald.domain.health import IMPAIRED_ALERT, RECOVERED_ALERT, is_probe
from tests.api.test_service_sending import Pool
from tests.conftest import Herald, eventually

PROBE_SHARE = 0.5
SETTINGS = {
    "health_window_s": 4.0,
    "health_min_messages": 4,
    "health_failure_threshold": 0.5,
    "health_recovery_threshold": 0.25,
    "health_probe_share": PROBE_SHARE,
}
FAILING = ("3003", "3004", "3005", "3007", "3008", "3003")  # the simulator's test numbers
_numbers = itertools.count(7000)  # senders: clear of the test numbers (3xxx) and landlines
_recipients = itertools.count(10)  # +1 415 555-0110 on: always delivered


def add_fast_number(pool: Pool, area: str) -> tuple[str, str]:
    """A number of the pool sending 50 segments a second (Herald's `Mps`), so that the
    test waits on health, not on a long code's one message a second."""
    phone = f"+1{area}555{next(_numbers):04d}"
    response = httpx.post(
        pool.herald.url(pool.account, "IncomingPhoneNumbers.json"),
        data={"PhoneNumber": phone, "Mps": "50"},
        auth=(pool.account.sid, pool.account.auth_token),
    )
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    pool.client.messaging.v1.services(pool.service.sid).phone_numbers.create(phone_number_sid=sid)
    return phone, sid


def health(pool: Pool, sender: str = "") -> Any:
    path = f"SenderHealth/{quote(sender, safe='')}.json" if sender else "SenderHealth.json"
    response = httpx.get(
        f"{pool.herald.base_url}/herald/v1/Accounts/{pool.account.sid}/{path}",
        auth=(pool.account.sid, pool.account.auth_token),
    )
    return response


def state_of(pool: Pool, sender: str) -> str | None:
    response = health(pool, sender)
    return response.json()["state"] if response.status_code == 200 else None


def alerts(pool: Pool) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{pool.herald.base_url}/v1/Alerts", auth=(pool.account.sid, pool.account.auth_token)
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["alerts"]
    return found


def test_a_failing_sender_leaves_routing_with_an_alert_and_comes_back(herald: Herald) -> None:
    pool = Pool(herald)
    local, local_sid = add_fast_number(pool, "415")
    other, _ = add_fast_number(pool, "212")

    # Its messages start failing: sent from it directly, they count toward its health.
    failing = [
        pool.client.messages.create(to=f"+1415555{suffix}", from_=local, body="x")
        for suffix in FAILING
    ]
    for sent in failing:
        pool.settled(sent.sid, ("undelivered",))
    eventually(lambda: state_of(pool, local_sid) == "impaired")
    taken_out = [a for a in alerts(pool) if a["error_code"] == str(IMPAIRED_ALERT)]
    assert len(taken_out) == 1 and taken_out[0]["resource_sid"] == local_sid
    assert taken_out[0]["log_level"] == "warning" and taken_out[0]["more_info"] is None
    assert f"{local} was taken out of service routing" in taken_out[0]["alert_text"]
    # by its address too, once the last outcomes are written
    report = eventually(lambda: (r := health(pool, local).json())["messages"] == 6 and r)
    assert report["sender_sid"] == local_sid and report["in_routing"] is False
    assert report["failed"] == len(FAILING) and report["delivery_rate"] == 0.0
    assert report["error_mix"] == {"30003": 2, "30004": 1, "30005": 1, "30007": 1, "30008": 1}
    assert report["receipt_latency_p50_s"] is not None
    assert report["date_state_changed"] is not None
    metrics = herald.metrics()
    labels = f'address="{local}",sender="{local_sid}"'
    assert f"herald_sender_impaired{{{labels}}} 1.0" in metrics
    outcomes = f'address="{local}",error_code="30003",outcome="undelivered",sender="{local_sid}"'
    assert f"herald_sender_outcomes_total{{{outcomes}}} 2.0" in metrics
    assert f"herald_sender_receipt_seconds_count{{{labels}}} 6.0" in metrics
    assert f"herald_sender_failure_ratio{{{labels}}} 1.0" in metrics

    # Out of routing: the service's sends go to the other sender, but for the probes
    # (Preview is never one).
    preview = httpx.post(
        f"{herald.base_url}/v1/Services/{pool.service.sid}/Preview",
        data={"To": "+14155550142", "Body": "hi"},
        auth=(pool.account.sid, pool.account.auth_token),
    ).json()
    assert preview["from"] == other and preview["routing"]["health"] == REROUTED
    passed_over = {"sid": local_sid, "address": local, "reason": IMPAIRED}
    assert passed_over in preview["routing"]["rejected"]
    probes = 0
    for _ in range(12):  # batches, until the probes have brought it back
        if state_of(pool, local_sid) == "healthy":
            break
        for message in [pool.send(f"+141555501{next(_recipients):02d}") for _ in range(6)]:
            final = pool.settled(message.sid)
            decision = pool.routing(message.sid)["decision"]
            if decision["health"] == PROBE:
                probes += 1
                assert final.from_ == local and is_probe(message.sid, PROBE_SHARE)
            elif decision["health"] == REROUTED:
                assert final.from_ == other and not is_probe(message.sid, PROBE_SHARE)
                assert passed_over in decision["rejected"]
            else:  # back in routing already: the local number again
                assert final.from_ == local and decision["health"] is None
    eventually(lambda: state_of(pool, local_sid) == "healthy")
    assert probes >= 4
    put_back = [a for a in alerts(pool) if a["error_code"] == str(RECOVERED_ALERT)]
    assert len(put_back) == 1 and "back in service routing" in put_back[0]["alert_text"]
    assert f"herald_sender_impaired{{{labels}}} 0.0" in herald.metrics()

    # Back in routing: Area Code Geomatch chooses it again.
    again = pool.settled(pool.send(f"+141555501{next(_recipients):02d}").sid)
    assert again.from_ == local
    decision = pool.routing(again.sid)["decision"]
    assert (decision["rule"], decision["health"]) == ("area_code_geomatch", None)


def test_sender_health_is_listed_paged_and_kept_to_its_account(herald: Herald) -> None:
    pool = Pool(herald)
    (first, first_sid), (second, _) = add_fast_number(pool, "415"), add_fast_number(pool, "415")
    for sender in (first, second):
        pool.settled(pool.client.messages.create(to="+14155550100", from_=sender, body="x").sid)
    listed = eventually(lambda: len(health(pool).json()["sender_health"]) == 2 and health(pool))
    body = listed.json()
    assert [r["address"] for r in body["sender_health"]] == sorted([first, second])
    record = body["sender_health"][0]
    assert record["state"] == "healthy" and record["delivered"] == 1
    assert record["delivery_rate"] == 1.0 and record["failure_rate"] == 0.0
    assert record["thresholds"]["probe_share"] == PROBE_SHARE
    assert health(pool, record["sid"]).json()["sid"] == record["sid"]
    page = httpx.get(
        f"{herald.base_url}{body['first_page_uri'].replace('PageSize=50', 'PageSize=1')}",
        auth=(pool.account.sid, pool.account.auth_token),
    ).json()
    assert len(page["sender_health"]) == 1 and page["next_page_uri"] is not None
    following = httpx.get(
        f"{herald.base_url}{page['next_page_uri']}",
        auth=(pool.account.sid, pool.account.auth_token),
    ).json()
    assert [r["sid"] for r in following["sender_health"]] == [body["sender_health"][1]["sid"]]
    stranger = Pool(herald)
    assert health(stranger).json()["sender_health"] == []
    for ident in (first_sid, first, record["sid"]):
        missing = health(stranger, ident)
        assert missing.status_code == 404 and missing.json()["code"] == 20404
