"""Inputs that used to crash answer with a message instead (issue 9, point 6): a deeply nested
or huge JSON body, a truncated XLSX, control characters in a text field."""

import json

import pytest
from django.test import Client

from mahnwerk.intake.api_clients import create_api_client
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.models import Vendor

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return create_api_client(name="checkout-platform")[1]


def post(path, raw, key):
    return Client().post(f"/api/v1/{path}", data=raw, content_type="application/json",
                         headers={"Authorization": f"Bearer {key}"})


def vendor(vendor_id="48213", **fields):
    return {"vendor_id": vendor_id, "name": "Akademie Sonnenschein GmbH",
            "email": "info@sonnenschein.example", "enrolled": True,
            "collection_mode": "approval", "dunning_by": "in_house", **fields}


# --- The intake API ----------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_a_deeply_nested_body_is_refused_with_400_and_a_message(key, depth):
    raw = '{"records": ' + "[" * depth + "]" * depth + "}"
    response = post("vendors", raw, key)
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


def test_a_nested_value_within_the_parser_limit_is_a_problem_of_the_record(key):
    raw = json.dumps({"records": [vendor(name=[[[[["x"]]]]])]})
    response = post("vendors", raw, key)
    assert response.status_code == 422
    assert not Vendor.objects.exists()


def test_a_huge_body_is_refused_with_413_and_the_limit(key, settings):
    settings.MAHNWERK_API_MAX_BODY_BYTES = 10_000
    raw = json.dumps({"records": [vendor(f"V{i}") for i in range(200)]})
    response = post("vendors", raw, key)
    assert response.status_code == 413
    assert "10000" in response.json()["detail"]
    assert not Vendor.objects.exists()


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x0b"])
def test_a_control_character_in_a_text_field_is_refused_with_the_column_named(key, char):
    response = post("vendors", json.dumps({"records": [vendor(name=f"Akademie{char}GmbH")]}),
                    key)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["column"] == "name"
    assert f"\\x{ord(char):02x}" in problem["reason"]
    assert not Vendor.objects.exists()


# --- Every text field of every feed ------------------------------------------------------------

EVERY_COLUMN = [(feed.name, column.name) for feed in FEEDS.values() for column in feed.columns]


@pytest.mark.parametrize(("feed", "column"), EVERY_COLUMN)
def test_every_field_of_every_feed_refuses_a_nul_byte(feed, column):
    _record, problems = FEEDS[feed].parse({column: "ab\x00cd"})
    [problem] = [p for p in problems if p.column == column]
    assert "\\x00" in problem.reason and problem.value == "ab\\x00cd"


def test_tab_and_line_breaks_are_left_to_the_field():
    record, problems = FEEDS["vendors"].parse(vendor(name="Akademie\tSonnenschein\r\nGmbH"))
    assert problems == []
    assert record["name"] == "Akademie\tSonnenschein\r\nGmbH"
