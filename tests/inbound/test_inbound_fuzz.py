"""Property: no import body and no simulated inbound message earns a 5xx; whatever is
refused is refused whole (Twilio's error JSON), and what is stored is stored once."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Herald

DISPATCH = False  # the receiver stores; nothing is sent

csv_rows = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(["+14155550123", "4155550123", "+447400123456"]), st.text()),
        st.one_of(st.just(""), st.text(max_size=40)),
        st.one_of(st.just(""), st.text(max_size=40)),
    ),
    max_size=5,
)
bodies = st.one_of(
    st.binary(max_size=400),
    csv_rows.map(
        lambda rows: (
            "phone_number,sender,keyword\n" + "\n".join(",".join(r) for r in rows)
        ).encode("utf-8", "surrogatepass")
    ),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=12,
    ).map(lambda v: httpx.Request("POST", "http://x", json=v).content),
)
content_types = st.sampled_from(["text/csv", "application/json", "", "text/plain; charset=x"])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, content_type=content_types)
def test_imports_never_fail_with_a_5xx(herald: Herald, body: bytes, content_type: str) -> None:
    account = herald.account()
    answer = httpx.post(
        f"{herald.base_url}/herald/v1/Accounts/{account.sid}/OptOuts/Import",
        content=body,
        headers={"Content-Type": content_type} if content_type else {},
        auth=(account.sid, account.auth_token),  # type: ignore[attr-defined]
    )
    assert answer.status_code in (201, 400), answer.text
    listed = httpx.get(
        f"{herald.base_url}/herald/v1/Accounts/{account.sid}/OptOuts.json",
        auth=(account.sid, account.auth_token),  # type: ignore[attr-defined]
    ).json()["opt_outs"]
    if answer.status_code == 400:
        assert answer.json()["code"] == 20001 and listed == []  # refused whole
    else:
        assert len(listed) <= answer.json()["imported"]  # a number twice is one entry


texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["STOP", " stop. ", "START", "HELP", "stop it", "ＳＴＯＰ", "\u200bSTOP"]),
)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=texts, sender=st.one_of(st.just("+12125550100"), st.text(max_size=16)))
def test_inbound_never_fails_with_a_5xx(herald: Herald, body: str, sender: str) -> None:
    account = herald.account()
    auth = (account.sid, account.auth_token)  # type: ignore[attr-defined]
    number = herald.client(account).incoming_phone_numbers.create(phone_number="+14155550100")
    try:
        answer = httpx.post(
            f"{herald.base_url}/herald/v1/Simulator/Inbound",
            data={"From": sender, "To": number.phone_number, "Body": body},
            auth=auth,
        )
        assert answer.status_code in (201, 400), answer.text
        if answer.status_code == 201:
            assert answer.json()["body"] == body
    finally:
        number.delete()
