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
    for value in ("0", "x", "nan", "-1"):
        with pytest.raises(ImproperlyConfigured, match="is not a number above 0"):
            reading(MAHNWERK_READY_TIMEOUT=value).float("MAHNWERK_READY_TIMEOUT", default=3.0,
                                                        above=0)


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
    with pytest.raises(ImproperlyConfigured, match="'GERMANY' is not an ISO 3166-1 country code"):
        reading(C="Germany").country("C", default="DE", countries=countries)
    with pytest.raises(ImproperlyConfigured, match=r"MAHNWERK_ID_PATTERN='\[' is not a regular "
                                                   "expression"):
        reading(MAHNWERK_ID_PATTERN="[").pattern("MAHNWERK_ID_PATTERN", default="[A-Z]+")
    assert reading(L="warning").log_level("L", default="INFO") == "WARNING"
    with pytest.raises(ImproperlyConfigured, match="'LOUD' is not a log level"):
        reading(L="loud").log_level("L", default="INFO")


@pytest.mark.parametrize("value", ["mahnwerk.example", "ftp://mahnwerk.example", "https://",
                                   "https://mahnwerk.example:port"])
def test_a_site_address_without_its_scheme_and_host_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match=rf"MAHNWERK_SITE_URL='{value}' is not an "
                                                   "address https://… or http://…"):
        reading(MAHNWERK_SITE_URL=value).url("MAHNWERK_SITE_URL", default="http://127.0.0.1:8000",
                                            schemes=("https", "http"))


def test_a_cache_is_a_redis_address_or_none():
    env = reading(MAHNWERK_CACHE_URL="redis://127.0.0.1:6379/1")
    assert env.url("MAHNWERK_CACHE_URL", default="",
                   schemes=("redis", "rediss", "unix")) == "redis://127.0.0.1:6379/1"
    assert reading().url("MAHNWERK_CACHE_URL", default="", schemes=("redis",)) == ""
    with pytest.raises(ImproperlyConfigured, match="is not an address redis://…"):
        reading(MAHNWERK_CACHE_URL="memcached://cache:11211").url(
            "MAHNWERK_CACHE_URL", default="", schemes=("redis", "rediss", "unix"))


def test_mail_options_that_are_no_json_are_refused():
    with pytest.raises(ImproperlyConfigured, match="ANYMAIL is not JSON"):
        reading(ANYMAIL="{MAILGUN_API_KEY: x}").json("ANYMAIL", default={})


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("MAHNWERK_RUN_BATCH", "abc", "MAHNWERK_RUN_BATCH='abc' is not a whole number"),
    ("MAHNWERK_OUTBOX_CHUNK", "0", "MAHNWERK_OUTBOX_CHUNK='0' is out of range"),
    ("MAHNWERK_HTTPS", "ja", "MAHNWERK_HTTPS='ja' is neither true nor false"),
    ("MAHNWERK_DUNNING_FEE_CAP", "2,50", "MAHNWERK_DUNNING_FEE_CAP='2,50' is not a sum of money"),
    ("MAHNWERK_SITE_URL", "mahnwerk.example", "MAHNWERK_SITE_URL='mahnwerk.example' is not an "
                                              "address"),
    ("MAHNWERK_DEFAULT_COUNTRY", "Germany", "'GERMANY' is not an ISO 3166-1 country code"),
    ("MAHNWERK_ID_MAX_LENGTH", "100", "MAHNWERK_ID_MAX_LENGTH='100' is out of range: write a "
                                      "number from 1 to 64"),
    ("MAHNWERK_LOG_LEVEL", "LOUD", "MAHNWERK_LOG_LEVEL='LOUD' is not a log level"),
    ("ANYMAIL", "{bad", "ANYMAIL is not JSON"),
])
def test_mahnwerk_does_not_start_with_a_value_it_cannot_use(tmp_path, variable, value, said):
    """The settings read every variable through the strict reader: the process ends at its
    start, the last line of its error the sentence."""
    environment = {key: val for key, val in os.environ.items()
                   if not key.startswith(("DJANGO_", "MAHNWERK_", "DATABASE_URL"))}
    environment.update({variable: value, "MAHNWERK_HOME": str(tmp_path), "PYTHONPATH": str(SRC)})
    result = subprocess.run([sys.executable, "-m", "mahnwerk", "check"], env=environment,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: ") and said in last, last


def test_gunicorn_does_not_start_with_a_number_of_web_processes_that_is_none(tmp_path):
    environment = {**os.environ, "MAHNWERK_WEB_WORKERS": "vier", "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", "import mahnwerk.gunicorn_conf"],
                            env=environment, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode != 0
    assert "MAHNWERK_WEB_WORKERS='vier' is not a whole number" in result.stderr
