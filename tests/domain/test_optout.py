from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.domain.errors import InvalidParameter
from herald.domain.optout import (
    DEFAULT_KEYWORDS,
    DEFAULT_REPLIES,
    TOLL_FREE_REPLIES,
    AdvancedOptOut,
    KeywordSet,
    Match,
    OptOutType,
    classify,
    default_config,
    normalise,
    opt_out_type_param,
)

STOP, START, HELP = OptOutType.STOP, OptOutType.START, OptOutType.HELP
SPANISH_HELP = "Responda STOP para cancelar. Pueden aplicarse tarifas."
MEXICAN_STOP = "Te has dado de baja. Responde START para volver."


def plain(body: str, config: AdvancedOptOut | None = None, **kw: Any) -> Match | None:
    facts: dict[str, Any] = {"country": "US", "toll_free": False, "opted_out": False}
    return classify(body, config, **(facts | kw))


def advanced(**data: Any) -> AdvancedOptOut:
    return AdvancedOptOut.from_json({"enabled": True, **data})


def rejects(data: object, *names: str) -> str:
    with pytest.raises(InvalidParameter) as caught:
        AdvancedOptOut.from_json(data)
    assert caught.value.code == 20001
    for name in names:
        assert name in caught.value.message
    return caught.value.message


# ---- default keywords ------------------------------------------------------------------


def test_the_default_keywords_are_twilios() -> None:
    assert DEFAULT_KEYWORDS[STOP] == (
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
    )
    assert DEFAULT_KEYWORDS[START] == ("START", "YES", "UNSTOP")
    assert DEFAULT_KEYWORDS[HELP] == ("HELP", "INFO")


@pytest.mark.parametrize(
    ("word", "type_"), [(w, t) for t, words in DEFAULT_KEYWORDS.items() for w in words]
)
def test_every_default_keyword_matches_with_its_reply(word: str, type_: OptOutType) -> None:
    for body in (word, word.lower(), word.title(), f"  {word}\n", f"{word}!"):
        assert plain(body) == Match(
            type=type_, keyword=word, language=None, reply=DEFAULT_REPLIES[type_]
        )


def test_the_default_replies() -> None:
    assert DEFAULT_REPLIES[STOP] == (
        "You have successfully been unsubscribed. You will not receive any more messages "
        "from this number. Reply START to resubscribe."
    )
    assert DEFAULT_REPLIES[START] == (
        "You have successfully been re-subscribed to messages from this number. Reply HELP "
        "for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    )
    assert DEFAULT_REPLIES[HELP] == "Reply STOP to unsubscribe. Msg&Data Rates May Apply."


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("stop", "STOP"),
        (" Stop \n", "STOP"),
        ("STOP!", "STOP"),
        ("\tquit.", "QUIT"),
        ("Stop.", "STOP"),
        ("stop?!...", "STOP"),
        ("cancel,;:", "CANCEL"),
        ("\u3000\u00a0End\u2003", "END"),
        ("HeLp", "HELP"),
    ],
)
def test_case_whitespace_and_trailing_punctuation(body: str, keyword: str) -> None:
    match = plain(body)
    assert match is not None and match.keyword == keyword


@pytest.mark.parametrize(
    "body",
    [
        "stop it please",
        "STOPP",
        "STOP ALL",
        "PLEASE CANCEL",
        "OPT OUT",
        "S T O P",
        "",
        "   ",
        "!",
        ".STOP",
        "STOP !",
        "¡STOP",
        "STOP-",
        "STOP\u200b",
        "Hello",
    ],
)
def test_near_misses_do_not_match(body: str) -> None:
    assert plain(body) is None


def test_normalise() -> None:
    assert normalise(" stop!! ") == "STOP"
    assert normalise("straße") == "STRASSE"
    assert normalise("") == ""


@given(st.sampled_from([w for ws in DEFAULT_KEYWORDS.values() for w in ws]), st.text(".!?,;:"))
def test_any_trailing_punctuation_run_is_ignored(word: str, tail: str) -> None:
    match = plain(f"{word.lower()}{tail}")
    assert match is not None and match.keyword == word


# ---- toll-free -------------------------------------------------------------------------


def test_toll_free_stop_and_start_get_the_carriers_text() -> None:
    assert TOLL_FREE_REPLIES[STOP] == (
        'NETWORK MSG: You replied with the word "stop" which blocks all texts sent from this '
        'number. Text back "unstop" to receive messages again.'
    )
    assert TOLL_FREE_REPLIES[START] == (
        'NETWORK MSG: You have replied "unstop" and will begin receiving messages again from '
        "this number."
    )
    for body, type_ in (("quit", STOP), ("UNSTOP", START), ("yes", START)):
        for opted_out in (False, True):
            match = plain(body, toll_free=True, opted_out=opted_out)
            assert match is not None and match.reply == TOLL_FREE_REPLIES[type_]


def test_toll_free_help_is_answered_unless_opted_out() -> None:
    assert plain("help", toll_free=True) == Match(
        type=HELP, keyword="HELP", language=None, reply=DEFAULT_REPLIES[HELP]
    )
    assert plain("info", toll_free=True, opted_out=True) == Match(
        type=HELP, keyword="INFO", language=None, reply=None
    )


def test_help_while_opted_out_on_a_long_code_is_answered() -> None:
    match = plain("HELP", opted_out=True)
    assert match is not None and match.reply == DEFAULT_REPLIES[HELP]


def test_the_carrier_text_beats_a_custom_reply() -> None:
    config = advanced(opt_out_reply="Bye.", help_reply="Call us.")
    match = plain("stop", config, toll_free=True)
    assert match is not None and match.reply == TOLL_FREE_REPLIES[STOP]
    match = plain("help", config, toll_free=True)
    assert match is not None and match.reply == "Call us."


# ---- Advanced Opt-Out ------------------------------------------------------------------


def test_default_config() -> None:
    config = default_config()
    assert not config.enabled
    assert config.default.keywords == DEFAULT_KEYWORDS
    assert config.default.replies == DEFAULT_REPLIES
    assert config.languages == () and dict(config.country_replies) == {}
    assert AdvancedOptOut.from_json({}) == config


def test_an_added_keyword_matches() -> None:
    config = advanced(opt_out_keywords=[*DEFAULT_KEYWORDS[STOP], "Arrêt"])
    match = plain("arrêt.", config)
    assert match == Match(type=STOP, keyword="ARRÊT", language=None, reply=DEFAULT_REPLIES[STOP])


def test_a_removed_default_keyword_no_longer_matches() -> None:
    config = advanced(opt_in_keywords=["START", "UNSTOP"], help_keywords=["HELP"])
    assert plain("yes", config) is None
    assert plain("info", config) is None
    assert plain("start", config) is not None


def test_settings_apply_only_while_enabled() -> None:
    config = AdvancedOptOut.from_json(
        {"enabled": False, "help_keywords": ["HELP"], "help_reply": "Call us."}
    )
    assert plain("info", config) is not None
    match = plain("help", config)
    assert match is not None and match.reply == DEFAULT_REPLIES[HELP]


@pytest.mark.parametrize(
    ("key", "kept", "word"),
    [
        ("opt_out_keywords", ["QUIT", "END"], "STOP"),
        ("opt_in_keywords", ["YES"], "START"),
        ("help_keywords", [], "HELP"),
    ],
)
def test_stop_start_and_help_cannot_be_removed(key: str, kept: list[str], word: str) -> None:
    message = rejects({key: kept}, key, word)
    assert "cannot be removed" in message


def test_custom_replies() -> None:
    config = advanced(opt_out_reply="Bye.", opt_in_reply="Welcome back.", help_reply="Call us.")
    assert [m.reply for m in (plain("stop", config), plain("start", config)) if m] == [
        "Bye.",
        "Welcome back.",
    ]
    match = plain("info", config)
    assert match is not None and match.reply == "Call us."


SPANISH = {
    "language": "es",
    "opt_out_keywords": ["PARAR", "stop"],
    "help_keywords": ["AYUDA"],
    "help_reply": SPANISH_HELP,
}


def test_spanish_help_gets_the_spanish_reply() -> None:
    config = advanced(languages=[SPANISH])
    assert plain("Ayuda", config) == Match(
        type=HELP, keyword="AYUDA", language="es", reply=SPANISH_HELP
    )


def test_a_language_without_a_reply_falls_back_to_the_default_set() -> None:
    config = advanced(opt_out_reply="Bye.", languages=[SPANISH])
    assert plain("parar", config) == Match(type=STOP, keyword="PARAR", language="es", reply="Bye.")


def test_a_keyword_in_two_sets_belongs_to_the_default_set_first() -> None:
    match = plain("STOP", advanced(languages=[SPANISH]))
    assert match is not None and match.language is None


def test_a_country_override_wins() -> None:
    config = advanced(
        languages=[SPANISH],
        countries=[{"country": "MX", "opt_out_reply": MEXICAN_STOP, "help_reply": "Ayuda MX"}],
    )
    assert plain("stop", config, country="MX") == Match(
        type=STOP, keyword="STOP", language=None, reply=MEXICAN_STOP
    )
    match = plain("ayuda", config, country="mx")
    assert match is not None and match.reply == "Ayuda MX"
    match = plain("start", config, country="MX")  # no START override for MX
    assert match is not None and match.reply == DEFAULT_REPLIES[START]
    for country in ("US", None):
        match = plain("stop", config, country=country)
        assert match is not None and match.reply == DEFAULT_REPLIES[STOP]


def test_opt_out_type_is_sent_only_with_advanced_opt_out_enabled() -> None:
    config = advanced()
    assert opt_out_type_param(plain("stop", config), config) == "STOP"
    assert opt_out_type_param(plain("unstop", config), config) == "START"
    assert opt_out_type_param(plain("info", config), config) == "HELP"
    assert opt_out_type_param(plain("hello", config), config) is None
    assert opt_out_type_param(plain("stop"), None) is None
    assert opt_out_type_param(plain("stop"), default_config()) is None


# ---- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ([], ("value", "object")),
        ({"enable": True}, ("enable", "not a known")),
        ({"enabled": "yes"}, ("enabled",)),
        ({"enabled": 1}, ("enabled",)),
        ({"opt_out_keywords": "STOP"}, ("opt_out_keywords", "list of words")),
        ({"opt_out_keywords": ["STOP", 7]}, ("opt_out_keywords",)),
        ({"help_keywords": ["HELP", "NEED HELP"]}, ("help_keywords", "'NEED HELP'")),
        ({"help_keywords": ["HELP", ""]}, ("help_keywords",)),
        ({"help_keywords": ["HELP", "HELP!"]}, ("help_keywords",)),
        ({"help_keywords": ["HELP", "X" * 21]}, ("help_keywords",)),
        ({"help_keywords": ["HELP", *(f"H{i}" for i in range(50))]}, ("help_keywords", "50")),
        ({"help_keywords": ["HELP", "STOP"]}, ("help_keywords", "STOP is already a STOP")),
        ({"opt_in_reply": ""}, ("opt_in_reply", "1–1600")),
        ({"opt_in_reply": " \n"}, ("opt_in_reply",)),
        ({"opt_in_reply": "x" * 1601}, ("opt_in_reply",)),
        ({"help_reply": None}, ("help_reply",)),
        ({"languages": {}}, ("languages", "list")),
        ({"languages": [SPANISH] * 21}, ("languages", "at most 20")),
        ({"languages": ["es"]}, ("languages[0]", "object")),
        ({"languages": [{"help_keywords": ["AYUDA"]}]}, ("languages[0].language",)),
        ({"languages": [{"language": "Spanish"}]}, ("languages[0].language",)),
        ({"languages": [{"language": "es-"}]}, ("languages[0].language",)),
        ({"languages": [{"language": "es", "x": 1}]}, ("languages[0].x", "not a known")),
        ({"languages": [SPANISH, {"language": "es"}]}, ("languages[1].language", "twice")),
        (
            {"languages": [{"language": "es", "help_keywords": ["STOP"]}]},
            ("languages[0].help_keywords", "STOP is already a STOP keyword"),
        ),
        (
            {"languages": [{"language": "es", "opt_in_reply": ""}]},
            ("languages[0].opt_in_reply",),
        ),
        ({"countries": [{"country": "mx"}]}, ("countries[0].country", "ISO-2")),
        ({"countries": [{"country": "MEX"}]}, ("countries[0].country",)),
        ({"countries": [{"help_reply": "hi"}]}, ("countries[0].country",)),
        ({"countries": [{"country": "MX", "language": "es"}]}, ("countries[0].language",)),
        ({"countries": [{"country": "MX", "help_reply": 3}]}, ("countries[0].help_reply",)),
        ({"countries": [{"country": "MX"}, {"country": "MX"}]}, ("countries[1]", "twice")),
        ({"countries": [{"country": "MX"}] * 251}, ("countries", "at most 250")),
    ],
)
def test_from_json_rejects(data: object, names: tuple[str, ...]) -> None:
    rejects(data, *names)


def test_the_limits_themselves_are_accepted() -> None:
    words = ["HELP", *(f"H{i}" for i in range(49))]
    languages = [{"language": f"l{chr(97 + i // 26)}{chr(97 + i % 26)}"} for i in range(20)]
    countries = [{"country": f"{chr(65 + i // 26)}{chr(65 + i % 26)}"} for i in range(250)]
    config = advanced(
        help_keywords=words,
        help_reply="x" * 1600,
        languages=languages,
        countries=countries,
    )
    assert len(config.default.keywords[HELP]) == 50
    assert len(config.languages) == 20 and len(config.country_replies) == 250


def test_keywords_of_any_script_are_accepted() -> None:
    config = advanced(languages=[{"language": "hi", "opt_out_keywords": ["रोको"]}])
    match = plain("रोको", config)
    assert match is not None and match.type is STOP and match.language == "hi"
    config = advanced(languages=[{"language": "zh-Hans", "help_keywords": ["帮助", "X2"]}])
    assert plain("帮助!", config) is not None


def test_the_same_keyword_twice_in_one_class_is_kept_once() -> None:
    config = advanced(help_keywords=["HELP", "help", "Help", "SOS"])
    assert config.default.keywords[HELP] == ("HELP", "SOS")


def test_round_trip() -> None:
    data = {
        "enabled": True,
        "opt_out_keywords": ["stop", "quit", "Arrêt"],
        "help_keywords": ["HELP"],
        "opt_in_reply": "Welcome back.",
        "languages": [SPANISH, {"language": "pt-BR", "help_keywords": ["AJUDA"]}],
        "countries": [{"country": "MX", "opt_out_reply": MEXICAN_STOP}, {"country": "BR"}],
    }
    stored = AdvancedOptOut.from_json(data).to_json()
    assert stored == {
        "enabled": True,
        "opt_out_keywords": ["STOP", "QUIT", "ARRÊT"],
        "opt_in_keywords": ["START", "YES", "UNSTOP"],
        "help_keywords": ["HELP"],
        "opt_out_reply": DEFAULT_REPLIES[STOP],
        "opt_in_reply": "Welcome back.",
        "help_reply": DEFAULT_REPLIES[HELP],
        "languages": [
            {
                "language": "es",
                "opt_out_keywords": ["PARAR", "STOP"],
                "opt_in_keywords": [],
                "help_keywords": ["AYUDA"],
                "help_reply": SPANISH_HELP,
            },
            {
                "language": "pt-BR",
                "opt_out_keywords": [],
                "opt_in_keywords": [],
                "help_keywords": ["AJUDA"],
            },
        ],
        "countries": [{"country": "MX", "opt_out_reply": MEXICAN_STOP}, {"country": "BR"}],
    }
    again = AdvancedOptOut.from_json(stored)
    assert again == AdvancedOptOut.from_json(data)
    assert again.to_json() == stored


def test_the_default_config_as_json() -> None:
    data = default_config().to_json()
    assert data["enabled"] is False
    assert data["opt_out_keywords"] == list(DEFAULT_KEYWORDS[STOP])
    assert data["languages"] == [] and data["countries"] == []
    assert AdvancedOptOut.from_json(data) == default_config()


@given(
    st.lists(
        st.text(st.characters(categories=("L", "N")), min_size=1, max_size=8),
        max_size=5,
    )
)
def test_added_keywords_round_trip_and_match(words: list[str]) -> None:
    data = {"enabled": True, "help_keywords": ["HELP", *words]}
    try:
        config = AdvancedOptOut.from_json(data)
    except InvalidParameter as exc:  # a STOP or START keyword, or longer than 20 once upper
        assert "help_keywords" in exc.message
        return
    assert AdvancedOptOut.from_json(config.to_json()) == config
    for word in words:
        match = plain(word, config)
        assert match is not None and match.type is HELP


def test_keyword_set_type_of() -> None:
    keyword_set = KeywordSet(language="es", keywords={HELP: ("AYUDA",)}, replies={})
    assert keyword_set.type_of("AYUDA") is HELP
    assert keyword_set.type_of("HELP") is None
