"""The body as a template: plain column names only, literal braces doubled, and a field no
column fills refused with the missing names and the columns there are."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.campaign.template import Template, TemplateError, check_columns, parse


def test_fields_in_order_of_first_use() -> None:
    template = parse("Hi {first_name} {last_name}, {first_name}!")
    assert template.fields == ("first_name", "last_name")


def test_render_takes_the_rows_values() -> None:
    template = parse("Hi {first_name}, {pct}% off. Reply STOP to opt out.")
    row = {"first_name": "Ann", "pct": "20", "phone": "+14155550101"}
    assert template.render(row) == "Hi Ann, 20% off. Reply STOP to opt out."


def test_doubled_braces_are_literal() -> None:
    template = parse("{{code}} {name} }}")
    assert template.fields == ("name",)
    assert template.render({"name": "Bo"}) == "{code} Bo }"


def test_a_rows_braces_are_not_read_as_fields() -> None:
    assert parse("Hi {name}").render({"name": "{other} {0}"}) == "Hi {other} {0}"


def test_an_empty_or_absent_value_renders_empty() -> None:
    template = parse("Hi {first_name}!")
    assert template.render({"first_name": ""}) == "Hi !"
    assert template.render({}) == "Hi !"


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("Hi {}", "{}"),
        ("Hi {0}", "{0}"),
        ("Hi {a.b}", "{a.b}"),
        ("Hi {a[0]}", "{a[0]}"),
        ("Hi {name!r}", "{name!r}"),
        ("Hi {name:>5}", "{name:>5}"),
        ("Hi {first name}", "{first name}"),
    ],
)
def test_only_plain_column_names_are_fields(body: str, shown: str) -> None:
    with pytest.raises(TemplateError) as refused:
        parse(body)
    assert str(refused.value) == f"message.body: {shown} is not a field; write {{column_name}}"


@pytest.mark.parametrize("body", ["Hi {name", "Hi name}", "{"])
def test_unbalanced_braces_are_refused(body: str) -> None:
    with pytest.raises(TemplateError, match=r"^message\.body: "):
        parse(body)


def test_check_columns_names_the_missing_fields_and_the_columns() -> None:
    template = parse("Hi {first_name} {city} {zip}")
    with pytest.raises(TemplateError) as refused:
        check_columns(template, ["phone", "contact_id", "city"], "seed list")
    assert str(refused.value) == (
        "message.body: {first_name}, {zip} not a column of the seed list (city, contact_id, phone)"
    )


def test_check_columns_passes_when_every_field_is_a_column() -> None:
    check_columns(parse("Hi {first_name}"), iter(["first_name", "phone"]), "audience")
    check_columns(parse("No fields"), [], "audience")


@given(st.text(alphabet=st.characters(blacklist_characters="{}")))
def test_text_without_braces_renders_as_itself(text: str) -> None:
    assert parse(text) == Template(text=text, fields=())
    assert parse(text).render({}) == text
