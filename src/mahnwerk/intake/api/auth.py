"""The API key, and the request checks that run with it.

Request checks run in the authentication step, in this order: API key (401), body size (413),
content type (415), for the webhook the signature and timestamp (400/401), JSON syntax (400).
They run there because ninja parses the body before a view runs and turns any parser error into
the same bare 400.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.security import APIKeyHeader, HttpBearer

from mahnwerk.intake import api_clients
from mahnwerk.intake.api.errors import RecordsRejected, problem
from mahnwerk.intake.api_clients import Rejected
from mahnwerk.intake.models import ApiClient

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def checked_body(request: HttpRequest) -> bytes:
    """The raw body, if it is JSON by content type and within the size limit."""
    limit = settings.MAHNWERK_API_MAX_BODY_BYTES
    too_large = _("The body is too large: %(size)d bytes; at most %(max)d bytes are accepted. "
                  "Send fewer records per request.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise Rejected(413, too_large % {"size": declared, "max": limit})
    try:
        body = request.body
    except RequestDataTooBig:
        raise Rejected(413, too_large % {"size": declared, "max": limit}) from None
    if len(body) > limit:
        raise Rejected(413, too_large % {"size": len(body), "max": limit})
    if not body.strip():
        raise Rejected(400, _("The body is empty; send a JSON object."))
    if not request.content_type:
        raise Rejected(415, _("The header Content-Type is missing; send the body as JSON with "
                              "Content-Type: application/json."))
    if request.content_type != "application/json":
        raise Rejected(415, _("Content-Type %(type)s is not accepted; send the body as JSON with "
                              "Content-Type: application/json.") % {"type": request.content_type})
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constant)
    except RecursionError:  # the parser recurses once per level of nesting
        raise Rejected(400, _("The body nests lists or objects too deeply; a batch needs three "
                              "levels (object, list of records, record).")) from None
    except json.JSONDecodeError as exc:
        raise Rejected(400, _("The body is not valid JSON: %(error)s at line %(line)d, column "
                              "%(column)d.") % {"error": exc.msg, "line": exc.lineno,
                                                "column": exc.colno}) from None
    except ValueError:  # not UTF-8, or NaN/Infinity
        raise Rejected(400, _("The body is not valid JSON: it must be UTF-8 text, and numbers "
                              "cannot be NaN or Infinity.")) from None


class _KeyAuth:
    """Finds the API client by its key; then, for a request with a body, checks the body and,
    if ``signed``, the webhook signature."""

    signed: bool = False

    def client(self, request: HttpRequest, key: str) -> ApiClient:
        client = api_clients.authenticate(key=key)
        if client is None:
            raise Rejected(401, _("Unknown or deactivated API key."))
        if request.method in BODY_METHODS:
            body = checked_body(request)
            if self.signed:
                # Recorded by the view when it applies the delivery (a refused one is not).
                request.webhook_delivery = api_clients.check_webhook(
                    client=client, body=body,
                    timestamp=request.headers.get("X-Mahnwerk-Timestamp"),
                    signature=request.headers.get("X-Mahnwerk-Signature"),
                    delivery_id=request.headers.get("X-Mahnwerk-Delivery"))
            if not isinstance(parse_json(body), dict):
                raise RecordsRejected([problem(
                    record=None, id=None, column=None, value=None,
                    reason=_("the body must be a JSON object, not a list or a single "
                             "value"))])
        return client


class BearerKey(_KeyAuth, HttpBearer):
    """``Authorization: Bearer mw_...``"""

    def __init__(self, *, signed: bool = False) -> None:
        self.signed = signed
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> ApiClient:
        return self.client(request, token)


class HeaderKey(_KeyAuth, APIKeyHeader):
    """``X-API-Key: mw_...``"""

    param_name = "X-API-Key"

    def __init__(self, *, signed: bool = False) -> None:
        self.signed = signed
        super().__init__()

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiClient | None:
        if not key:
            return None
        return self.client(request, key)


API_KEY = [BearerKey(), HeaderKey()]
SIGNED_API_KEY = [BearerKey(signed=True), HeaderKey(signed=True)]
