"""Schemathesis drives Herald's routes from Twilio's own OpenAPI documents (`tests/specs/`):
every operation of the 2010 API and Messaging v1 that Herald serves, with data that fits
the spec and data that does not, against a real server, authenticated as a real account
whose SID is the path's AccountSid. No case may earn a 5xx (`not_a_server_error`).

The case count is printed (run with `-s` to see it) and bounded so the run stays short.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from starlette.routing import Match

from herald.api.app import create_app
from tests.conftest import Herald

SPECS = Path(__file__).parent.parent / "specs"
DOCUMENTS = ("twilio_api_v2010.json", "twilio_messaging_v1.json")
EXAMPLES_PER_OPERATION = 25
SENDER = "+14155550100"

# Schemathesis's own strategies warn about their internals (its use of `random`).
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]


def served(herald: Herald) -> list[tuple[str, str]]:
    """(method, path template) of the operations Herald's app routes, as the app routes
    them: each template, filled with SID-shaped values, must match one of its routes."""
    app = create_app(herald.runtime)
    found = []
    for document in DOCUMENTS:
        paths = schemathesis.openapi.from_path(SPECS / document).raw_schema["paths"]
        for template, item in paths.items():
            sample = re.sub(r"\{[^}]+\}", "AC" + "0" * 32, template)
            for method in item:
                if method.upper() not in {"GET", "POST", "DELETE"}:
                    continue
                scope = {"type": "http", "path": sample, "method": method.upper()}
                if any(route.matches(scope)[0] is Match.FULL for route in app.routes):
                    found.append((method.upper(), template))
    return found


SEND = ("POST", "/2010-04-01/Accounts/{AccountSid}/Messages.json")


def realistic(case: schemathesis.Case) -> schemathesis.Case:
    """A send that fits the spec mostly fails on its random `To` and `From` before the
    rest is looked at: half the sends name the account's own sender and a real recipient,
    so that the other parameters (`Attempt`, `MaxPrice`, …) reach the database."""
    if (case.method.upper(), case.operation.path) == SEND and isinstance(case.body, dict):
        body = {k: v for k, v in case.body.items() if k not in ("MessagingServiceSid",)}
        case.body = {**body, "To": "+14155550111", "From": SENDER}
    return case


@pytest.fixture(scope="module")
def account(herald: Herald) -> Iterator[tuple[str, str]]:
    made = herald.account()
    client = herald.client(made)
    client.incoming_phone_numbers.create(phone_number=SENDER)
    yield made.sid, made.auth_token


def test_no_operation_answers_a_server_error(
    herald: Herald, account: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    operations = served(herald)
    assert len(operations) >= 30, operations  # Messages, Media, numbers, keys, services, …
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    for document in DOCUMENTS:
        schema = schemathesis.openapi.from_path(SPECS / document)
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) not in operations:
                continue
            fixed = {"AccountSid": account[0]} if "{AccountSid}" in operation.path else None
            positive = operation.as_strategy(path_parameters=fixed).map(realistic)
            negative = operation.as_strategy(
                generation_mode=GenerationMode.NEGATIVE, path_parameters=fixed
            )
            strategy = st.one_of(positive, negative)

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def call(case: schemathesis.Case) -> None:
                response = case.call(base_url=herald.base_url, auth=account, timeout=10)
                statuses[response.status_code] += 1
                case.validate_response(response, checks=[not_a_server_error])

            call()
    cases = sum(statuses.values())
    with capsys.disabled():
        print(
            f"\nschemathesis [{herald.backend}]: {cases} cases over {len(operations)} "
            f"operations in {time.monotonic() - started:.1f}s; statuses {sorted(statuses.items())}"
        )
    assert cases >= len(operations) and statuses[200] + statuses[201] + statuses[204] > 0
