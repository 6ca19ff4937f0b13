"""Inputs that used to crash answer with a message instead (issue 9, point 6): a deeply nested
or huge JSON body, a truncated XLSX, control characters in a text field."""

import json

import pytest
from django.test import Client

from mahnwerk.intake.api_clients import create_api_client
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
