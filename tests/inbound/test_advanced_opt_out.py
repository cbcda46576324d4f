"""Advanced Opt-Out of a Messaging Service (§11.3), through Herald's `/v1/Services/{MG}/OptOut`:
extra keywords, custom replies, a Spanish keyword set and a Mexican reply, `OptOutType` on
the webhook only while it is enabled, and the settings it refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from herald.domain.optout import DEFAULT_KEYWORDS, DEFAULT_REPLIES, OptOutType
from tests.conftest import Herald
from tests.inbound.tenant import EMPTY_TWIML, XML, Tenant, handset, mexican_handset
from tests.webhooks.receiver import Receiver, Reply

CUSTOM_STOP = "Vous êtes désabonné. You are unsubscribed."
SPANISH_HELP = "Responda STOP para cancelar."
MEXICAN_STOP = "Ya no recibirá mensajes. Responda START para volver."
LANGUAGES = [{"language": "es", "help_keywords": ["AYUDA"], "help_reply": SPANISH_HELP}]
COUNTRIES = [{"country": "MX", "opt_out_reply": MEXICAN_STOP}]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        r.always(Reply(headers=XML, body=EMPTY_TWIML))
        yield r


def _enable(t: Tenant) -> dict[str, Any]:
    answer = t.post(
        t.opt_out_settings,
        data={
            "Enabled": "true",
            "OptOutKeywords": ",".join([*DEFAULT_KEYWORDS[OptOutType.STOP], "arret"]),
            "OptOutReply": CUSTOM_STOP,
            "Languages": json.dumps(LANGUAGES),
            "Countries": json.dumps(COUNTRIES),
        },
    )
    assert answer.status_code == 200, answer.text
    settings: dict[str, Any] = answer.json()
    return settings


class Texting:
    """A handset's text to the service's number, and the webhook it caused."""

    def __init__(self, t: Tenant, receiver: Receiver, ours: str) -> None:
        self.t, self.receiver, self.ours = t, receiver, ours

    def hook_for(self, phone: str, body: str) -> dict[str, str]:
        before = self.receiver.count
        sid = self.t.text(phone, self.ours, body)["sid"]
        got = self.receiver.wait_for(before + 1)
        form = dict(next(r for r in got if dict(r.form)["MessageSid"] == sid).form)
        assert form["Body"] == body
        return form


def test_defaults_are_off_with_twilios_keywords(herald: Herald) -> None:
    t = Tenant(herald)
    answer = t.get(t.opt_out_settings)
    assert answer.status_code == 200, answer.text
    settings = answer.json()
    assert settings["enabled"] is False
    assert settings["messaging_service_sid"] == t.service.sid
    assert settings["opt_out_keywords"] == list(DEFAULT_KEYWORDS[OptOutType.STOP])
    assert settings["opt_in_keywords"] == ["START", "YES", "UNSTOP"]
    assert settings["help_keywords"] == ["HELP", "INFO"]
    assert settings["opt_out_reply"] == DEFAULT_REPLIES[OptOutType.STOP]
    assert (settings["languages"], settings["countries"]) == ([], [])


def test_enabled_settings_answer_keywords_languages_and_countries(
    herald: Herald, receiver: Receiver
) -> None:
    t = Tenant(herald, inbound_request_url=f"{receiver.url}/service")
    ours = t.pooled()
    saved = _enable(t)
    assert saved["enabled"] is True and saved["opt_out_keywords"][-1] == "ARRET"
    assert saved["languages"][0]["help_keywords"] == ["AYUDA"]
    assert t.get(t.opt_out_settings).json() == saved
    texting = Texting(t, receiver, ours)

    quitter = handset()
    assert texting.hook_for(quitter, "Arret")["OptOutType"] == "STOP"
    assert t.reply_to(quitter).body == CUSTOM_STOP
    with pytest.raises(TwilioRestException) as refused:
        t.send(quitter)
    assert refused.value.code == 21610
    assert texting.hook_for(quitter, "unstop")["OptOutType"] == "START"
    assert t.settled(t.send(quitter).sid).status == "delivered"

    asker = handset()
    assert texting.hook_for(asker, "ayuda")["OptOutType"] == "HELP"
    assert t.reply_to(asker).body == SPANISH_HELP
    assert t.settled(t.send(asker).sid).status == "delivered"  # HELP blocks nothing

    chatty = handset()
    assert "OptOutType" not in texting.hook_for(chatty, "arret please")
    assert t.replies_to(chatty) == []

    mexican = mexican_handset()
    assert texting.hook_for(mexican, "STOP")["OptOutType"] == "STOP"
    assert t.reply_to(mexican).body == MEXICAN_STOP


def test_disabled_settings_send_no_opt_out_type_and_extra_keywords_are_words(
    herald: Herald, receiver: Receiver
) -> None:
    t = Tenant(herald, inbound_request_url=f"{receiver.url}/service")
    ours = t.pooled()
    _enable(t)
    off = t.post(t.opt_out_settings, data={"Enabled": "false"})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert off.json()["opt_out_keywords"][-1] == "ARRET"  # kept for when it is on again
    texting = Texting(t, receiver, ours)

    quitter = handset()
    assert "OptOutType" not in texting.hook_for(quitter, "STOP")
    assert t.reply_to(quitter).body == DEFAULT_REPLIES[OptOutType.STOP]
    with pytest.raises(TwilioRestException) as refused:
        t.send(quitter)
    assert refused.value.code == 21610

    french = handset()
    assert "OptOutType" not in texting.hook_for(french, "ARRET")
    assert t.settled(t.send(french).sid).status == "delivered"


def test_a_service_without_settings_sends_no_opt_out_type(
    herald: Herald, receiver: Receiver
) -> None:
    t = Tenant(herald, inbound_request_url=f"{receiver.url}/service")
    texting = Texting(t, receiver, t.pooled())
    phone = handset()
    assert "OptOutType" not in texting.hook_for(phone, "stop")
    assert t.reply_to(phone).body == DEFAULT_REPLIES[OptOutType.STOP]


@pytest.mark.parametrize(
    "form",
    [
        {"OptOutKeywords": "ARRET,QUIT"},  # STOP cannot be removed
        {"HelpKeywords": "AYUDA"},  # nor HELP
        {"Languages": '[{"language": "es", "help_keywords": ["AYUDA"]'},  # not JSON
        {"Languages": '{"language": "es"}'},  # not a list
        {"Countries": '[{"country": "Mexico", "opt_out_reply": "adios"}]'},
        {"OptInKeywords": "START,YES,UNSTOP,STOP"},  # STOP is already an opt-out
        {"Enabled": "maybe"},
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(herald: Herald, form: dict[str, str]) -> None:
    t = Tenant(herald)
    before = t.get(t.opt_out_settings).json()
    answer = t.post(t.opt_out_settings, data={"Enabled": "true", **form})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 20001
    assert t.get(t.opt_out_settings).json() == before


def test_unknown_and_foreign_services_are_not_found(herald: Herald) -> None:
    owner, other = Tenant(herald), Tenant(herald)
    unknown = "/v1/Services/MG" + "0" * 32 + "/OptOut"
    foreign = owner.opt_out_settings
    answers = [
        other.get(unknown),
        other.post(unknown, data={"Enabled": "true"}),
        other.get(foreign),
        other.post(foreign, data={"Enabled": "true"}),
    ]
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(404, 20404)] * 4
    assert owner.get(foreign).json()["enabled"] is False
