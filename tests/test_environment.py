"""An operator's environment file, read as Mahnwerk reads it (``mahnwerk.environment``).

A value a setting cannot use stops the process at its start with a sentence naming the
variable, its value and what to write: never a ValueError without a name, never a word quietly
read as false, never a wrong fee cap or site address first found by a letter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from mahnwerk.environment import Env

SRC = Path(__file__).resolve().parent.parent / "src"


def reading(**variables: str) -> Env:
    env = Env()
    env.ENVIRON = variables  # instead of os.environ
    return env


@pytest.mark.parametrize(("word", "value"), [
    ("true", True), ("TRUE", True), ("on", True), ("yes", True), ("1", True),
    ("false", False), ("Off", False), ("no", False), ("0", False)])
def test_a_switch_is_read_from_the_usual_words(word, value):
    assert reading(MAHNWERK_HTTPS=word).bool("MAHNWERK_HTTPS", default=False) is value


@pytest.mark.parametrize("word", ["ja", "wahr", "tru", "2"])
def test_a_switch_set_to_another_word_is_refused_not_read_as_off(word):
    """MAHNWERK_HTTPS=ja once meant the demo's settings in production."""
    with pytest.raises(ImproperlyConfigured, match=(
            rf"MAHNWERK_HTTPS='{word}' is neither true nor false: write MAHNWERK_HTTPS=true or "
            "MAHNWERK_HTTPS=false")):
        reading(MAHNWERK_HTTPS=word).bool("MAHNWERK_HTTPS", default=False)


def test_a_variable_left_blank_gives_its_default():
    env = reading(MAHNWERK_RUN_BATCH="", MAHNWERK_HTTPS=" ", MAHNWERK_READY_TIMEOUT="")
    assert env.int("MAHNWERK_RUN_BATCH", default=200, least=1) == 200
    assert env.bool("MAHNWERK_HTTPS", default=False) is False
    assert env.float("MAHNWERK_READY_TIMEOUT", default=3.0, above=0) == 3.0


@pytest.mark.parametrize(("value", "said"), [
    ("abc", "MAHNWERK_RUN_BATCH='abc' is not a whole number: write a number of 1 or more, "
            "e.g. MAHNWERK_RUN_BATCH=200 (its default)."),
    ("2.5", "is not a whole number"),
    ("0", "MAHNWERK_RUN_BATCH='0' is out of range: write a number of 1 or more, "
          "e.g. MAHNWERK_RUN_BATCH=200 (its default)."),
    ("-5", "is out of range"),
])
def test_a_number_that_is_no_number_or_out_of_range_is_refused_with_what_to_write(value, said):
    with pytest.raises(ImproperlyConfigured) as refused:
        reading(MAHNWERK_RUN_BATCH=value).int("MAHNWERK_RUN_BATCH", default=200, least=1)
    assert said in str(refused.value)


def test_a_number_is_read_within_its_bounds():
    env = reading(EMAIL_PORT=" 587 ", MAHNWERK_READY_TIMEOUT="0.5")
    assert env.int("EMAIL_PORT", default=25, least=1, most=65535) == 587
    assert env.float("MAHNWERK_READY_TIMEOUT", default=3.0, above=0) == 0.5
    with pytest.raises(ImproperlyConfigured, match="a number from 1 to 65535"):
        reading(EMAIL_PORT="70000").int("EMAIL_PORT", default=25, least=1, most=65535)
    for value in ("0", "x", "nan", "-1", "inf", "1e400", "601"):
        with pytest.raises(ImproperlyConfigured, match="is not a number above 0"):
            reading(MAHNWERK_READY_TIMEOUT=value).float("MAHNWERK_READY_TIMEOUT", default=3.0,
                                                        above=0, most=600)


@pytest.mark.parametrize("value", ["2,50", "2.50 EUR", "-1", "NaN", "Infinity", "zwei"])
def test_a_fee_cap_that_is_no_sum_of_money_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match=(
            rf"MAHNWERK_DUNNING_FEE_CAP='{value}' is not a sum of money: write it with a point "
            r"before the cents and no currency, e.g. MAHNWERK_DUNNING_FEE_CAP=2.50")):
        reading(MAHNWERK_DUNNING_FEE_CAP=value).amount("MAHNWERK_DUNNING_FEE_CAP",
                                                      default="2.50")


def test_sums_of_money_are_kept_as_written_and_the_bands_must_lie_above_zero():
    assert reading(MAHNWERK_LETTER_COST=" 0.95 ").amount("MAHNWERK_LETTER_COST",
                                                         default="1.10") == "0.95"
    bands = reading(MAHNWERK_AMOUNT_BANDS="100, 500")
    assert bands.amounts("MAHNWERK_AMOUNT_BANDS", default=["50", "200"]) == ["100", "500"]
    with pytest.raises(ImproperlyConfigured, match="holds '0', which is not above 0"):
        reading(MAHNWERK_AMOUNT_BANDS="0,200").amounts("MAHNWERK_AMOUNT_BANDS", default=["50"])
    with pytest.raises(ImproperlyConfigured, match="'50;200' is not a sum of money"):
        reading(MAHNWERK_AMOUNT_BANDS="50;200").amounts("MAHNWERK_AMOUNT_BANDS", default=["50"])


def test_a_country_a_pattern_and_a_log_level_are_checked():
    countries = frozenset({"DE", "AT", "CH"})
    assert reading(C="at").country("C", default="DE", countries=countries) == "AT"
    with pytest.raises(ImproperlyConfigured, match="'Germany' is not an ISO 3166-1 country code"):
        reading(C="Germany").country("C", default="DE", countries=countries)
    with pytest.raises(ImproperlyConfigured, match=r"MAHNWERK_ID_PATTERN='\[' is not a regular "
                                                   "expression"):
        reading(MAHNWERK_ID_PATTERN="[").pattern("MAHNWERK_ID_PATTERN", default="[A-Z]+")
    assert reading(L="warning").log_level("L", default="INFO") == "WARNING"
    with pytest.raises(ImproperlyConfigured, match="'loud' is not a log level"):
        reading(L="loud").log_level("L", default="INFO")


@pytest.mark.parametrize("value", ["mahnwerk.example", "ftp://mahnwerk.example", "https://",
                                   "https://mahnwerk.example:port"])
def test_a_site_address_without_its_scheme_and_host_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match=rf"MAHNWERK_SITE_URL='{value}' is not an "
                                                   "address https://… or http://…"):
        reading(MAHNWERK_SITE_URL=value).address("MAHNWERK_SITE_URL",
                                                default="http://127.0.0.1:8000",
                                                schemes=("https", "http"))


def test_a_cache_is_a_redis_address_or_none():
    env = reading(MAHNWERK_CACHE_URL="redis://127.0.0.1:6379/1")
    assert env.address("MAHNWERK_CACHE_URL", default="",
                       schemes=("redis", "rediss", "unix")) == "redis://127.0.0.1:6379/1"
    assert reading().address("MAHNWERK_CACHE_URL", default="", schemes=("redis",)) == ""
    several = "redis://h1:6379/1,redis://h2:6379/1"  # Django's Redis cache takes several
    assert reading(MAHNWERK_CACHE_URL=several).address(
        "MAHNWERK_CACHE_URL", default="", schemes=("redis",), several=True) == several
    with pytest.raises(ImproperlyConfigured, match="is not an address redis://…"):
        reading(MAHNWERK_CACHE_URL="memcached://cache:11211").address(
            "MAHNWERK_CACHE_URL", default="", schemes=("redis", "rediss", "unix"))


def test_mail_options_that_are_no_json_are_refused():
    for value in ("{MAILGUN_API_KEY: x}", "null", "[1]", '"key"'):
        with pytest.raises(ImproperlyConfigured, match="ANYMAIL is not a JSON object"):
            reading(ANYMAIL=value).json("ANYMAIL", default={})
    assert reading(ANYMAIL='{"MAILGUN_API_KEY": "k"}').json("ANYMAIL", default={}) == {
        "MAILGUN_API_KEY": "k"}


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("MAHNWERK_RUN_BATCH", "abc", "MAHNWERK_RUN_BATCH='abc' is not a whole number"),
    ("MAHNWERK_OUTBOX_CHUNK", "0", "MAHNWERK_OUTBOX_CHUNK='0' is out of range"),
    ("MAHNWERK_HTTPS", "ja", "MAHNWERK_HTTPS='ja' is neither true nor false"),
    ("MAHNWERK_DUNNING_FEE_CAP", "2,50", "MAHNWERK_DUNNING_FEE_CAP='2,50' is not a sum of money"),
    ("MAHNWERK_SITE_URL", "mahnwerk.example", "MAHNWERK_SITE_URL='mahnwerk.example' is not an "
                                              "address"),
    ("MAHNWERK_DEFAULT_COUNTRY", "Germany", "'Germany' is not an ISO 3166-1 country code"),
    ("MAHNWERK_ID_MAX_LENGTH", "100", "MAHNWERK_ID_MAX_LENGTH='100' is out of range: write a "
                                      "number from 1 to 64"),
    ("MAHNWERK_LOG_LEVEL", "LOUD", "MAHNWERK_LOG_LEVEL='LOUD' is not a log level"),
    ("ANYMAIL", "{bad", "ANYMAIL is not a JSON object"),
])
def test_mahnwerk_does_not_start_with_a_value_it_cannot_use(tmp_path, variable, value, said):
    """The settings read every variable through the strict reader: the process ends at its
    start, the last line of its error the sentence."""
    last = _refused_at_start(tmp_path, **{variable: value})
    assert said in last, last


def test_gunicorn_does_not_start_with_a_number_of_web_processes_that_is_none(tmp_path):
    environment = {**os.environ, "MAHNWERK_WEB_WORKERS": "vier", "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", "import mahnwerk.gunicorn_conf"],
                            env=environment, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode != 0
    assert "MAHNWERK_WEB_WORKERS='vier' is not a whole number" in result.stderr


def test_a_reference_to_another_variable_is_followed_as_django_environ_does():
    env = reading(DJANGO_DEBUG="$SHARED_SWITCH", SHARED_SWITCH="true",
                  MAHNWERK_RUN_BATCH="$BATCH", BATCH="50")
    assert env.bool("DJANGO_DEBUG", default=False) is True
    assert env.int("MAHNWERK_RUN_BATCH", default=200, least=1) == 50


def test_a_blank_gives_the_default_of_every_reader_and_of_the_retention_none():
    env = reading(MAHNWERK_ID_PATTERN="", MAHNWERK_DEFAULT_COUNTRY=" ", MAHNWERK_LOG_LEVEL="",
                  MAHNWERK_DUNNING_FEE_CAP="", ANYMAIL="", MAHNWERK_AMOUNT_BANDS="",
                  MAHNWERK_RETENTION_DAYS="")
    assert env.pattern("MAHNWERK_ID_PATTERN", default="[A-Z]+") == "[A-Z]+"
    assert env.country("MAHNWERK_DEFAULT_COUNTRY", default="DE", countries={"DE"}) == "DE"
    assert env.log_level("MAHNWERK_LOG_LEVEL", default="INFO") == "INFO"
    assert env.amount("MAHNWERK_DUNNING_FEE_CAP", default="2.50") == "2.50"
    assert env.json("ANYMAIL", default={}) == {}
    assert env.amounts("MAHNWERK_AMOUNT_BANDS", default=["50"]) == ["50"]
    # Blank has a meaning of its own here: the schedule anonymises nothing.
    assert env.int("MAHNWERK_RETENTION_DAYS", default=1095, least=0, blank=None) is None
    assert reading().int("MAHNWERK_RETENTION_DAYS", default=1095, least=0, blank=None) == 1095
    assert reading(MAHNWERK_RETENTION_DAYS="0").int("MAHNWERK_RETENTION_DAYS", default=1095,
                                                   least=0, blank=None) == 0


def test_a_default_made_from_another_variable_is_blamed_on_that_one():
    with pytest.raises(ImproperlyConfigured) as refused:
        reading().address("MAHNWERK_CACHE_URL", default="redis://h:abc/0",
                          default_from="CELERY_BROKER_URL", schemes=("redis",),
                          example="redis://127.0.0.1:6379/1")
    said = str(refused.value)
    assert said.startswith("CELERY_BROKER_URL='redis://h:abc/0', from which MAHNWERK_CACHE_URL "
                           "is made, is not an address redis://…")
    assert said.endswith("e.g. MAHNWERK_CACHE_URL=redis://127.0.0.1:6379/1.")


@pytest.mark.parametrize(("url", "said"), [
    ("", "DATABASE_URL is set but empty"),
    ("   ", "DATABASE_URL is set but empty"),
    ("postgress://db/mahnwerk", "DATABASE_URL='postgress://db/mahnwerk' is not an address of a "
                                "database Mahnwerk runs on"),
])
def test_a_database_url_that_names_no_database_refuses_to_start_saying_what_to_write(
        tmp_path, url, said):
    """An operator's env file with ``DATABASE_URL=`` (a value forgotten) or a misspelt kind
    stops the process at its start with a sentence, not a KeyError from the settings."""
    last = _refused_at_start(tmp_path, DATABASE_URL=url)
    assert said in last
    assert "postgres://" in last and "sqlite:///" in last, "it says what to write"


@pytest.mark.parametrize(("url", "said"), [
    ("postgres://u@h:port/db", "cannot be read (Port could not be cast to integer value"),
    ("postgres://u@h:99999/db", "cannot be read (Port out of range"),
    ("sqlite://", "names no database file"),
    ("sqlite:///", "names no database file"),
    ("sqlite", "is not an address of a database Mahnwerk runs on"),
    ("postgres:u@h/db", "is not an address of a database Mahnwerk runs on"),
    ("postgres://u@h/db?conn_max_age=abc", "sets conn_max_age to 'abc'"),
])
def test_a_database_address_that_cannot_work_is_refused_at_the_start(tmp_path, url, said):
    last = _refused_at_start(tmp_path, DATABASE_URL=url)
    assert said in last, last
    if "conn_max_age" not in url:
        assert "write postgres://user@host:5432/name for PostgreSQL or sqlite:///" in last


@pytest.mark.parametrize(("variable", "value"), [
    ("MAHNWERK_APPROVAL_REMINDER_DAYS", "1000000000"), ("MAHNWERK_RETENTION_DAYS", "-1"),
    ("MAHNWERK_READY_TIMEOUT", "inf")])
def test_a_count_of_days_or_seconds_beyond_the_calendar_or_reason_is_refused(tmp_path, variable,
                                                                            value):
    assert f"{variable}={value!r}" in _refused_at_start(tmp_path, **{variable: value})


def test_production_serves_a_site_address_written_as_django_matches_hosts(tmp_path):
    from tests.test_security import PRODUCTION
    for site, hosts in [("https://[::1]", "[::1]"),
                        ("https://mahnwerk.example.", "mahnwerk.example"),
                        ("https://mahnwerk.example:8443/mahnwerk", ".example"),
                        ("https://mahnwerk.example", "a.example, mahnwerk.example")]:
        result = _start(tmp_path, **{**PRODUCTION, "MAHNWERK_SITE_URL": site,
                                     "DJANGO_ALLOWED_HOSTS": hosts})
        assert result.returncode == 0, (site, hosts, result.stderr[-500:])


def _start(tmp_path, **variables: str) -> subprocess.CompletedProcess:
    environment = {key: val for key, val in os.environ.items()
                   if not key.startswith(("DJANGO_", "MAHNWERK_", "DATABASE_URL"))}
    environment.update({**variables, "MAHNWERK_HOME": str(tmp_path), "PYTHONPATH": str(SRC)})
    return subprocess.run([sys.executable, "-m", "mahnwerk", "check"], env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def _refused_at_start(tmp_path, **variables: str) -> str:
    result = _start(tmp_path, **variables)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: "), last
    return last
