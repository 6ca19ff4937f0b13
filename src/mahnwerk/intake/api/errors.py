"""How the intake API refuses: the problem shape, and one answer for every refusal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError

from mahnwerk.intake.api.schemas import MAX_RECORDS
from mahnwerk.intake.api_clients import Rejected


class RecordsRejected(Exception):
    """Records with problems; answered with 422 and every problem, nothing written."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(problems)
        self.problems = problems


def problem(*, record: int | None, id: str | None, column: str | None, value: str | None,
            reason: str) -> dict[str, Any]:
    return {"record": record, "id": id, "column": column, "value": value, "reason": reason}


def structure_problem(error: Mapping[str, Any]) -> dict[str, Any]:
    """A schema error from ninja (the body's shape, not a value) in the shape of a Problem."""
    loc = [part for part in error.get("loc", ())[1:] if part != "payload"]  # drop "body"
    record = loc[1] if len(loc) >= 2 and loc[0] == "records" and isinstance(loc[1], int) \
        else None
    column = str(loc[0]) if loc and record is None else None
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        reason = _("required value missing")
    elif kind == "too_long":
        reason = _("too many records: %(count)d; send at most %(max)d per request") % {
            "count": ctx.get("actual_length", 0), "max": ctx.get("max_length", MAX_RECORDS)}
    elif kind == "list_type":
        reason = _("expected a JSON list of records")
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        reason = _("a record must be a JSON object with the feed's fields")
    else:
        reason = str(error.get("msg", kind))
    return problem(record=record, id=None, column=column, value=None, reason=reason)


def _message(request: HttpRequest, api: NinjaAPI, status: int, message: str) -> HttpResponse:
    response = api.create_response(request, {"detail": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="mahnwerk"'
    return response


def install_error_handlers(api: NinjaAPI) -> None:
    """Answer every refusal with ``{"detail": message}``, or ``{"detail": [problems]}`` (422)."""

    def rejected(request: HttpRequest, exc: Rejected) -> HttpResponse:
        return _message(request, api, exc.status_code, exc.message)

    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return _message(request, api, 401, _(
            "API key missing: send it as \"Authorization: Bearer <key>\" or \"X-API-Key: <key>\"."))

    def records_rejected(request: HttpRequest, exc: RecordsRejected) -> HttpResponse:
        return api.create_response(request, {"detail": exc.problems}, status=422)

    def invalid_shape(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        problems = []
        for error in exc.errors:  # a union (the webhook's data) reports once per member
            found = structure_problem(error)
            if found not in problems:
                problems.append(found)
        return api.create_response(request, {"detail": problems}, status=422)

    api.add_exception_handler(Rejected, rejected)
    api.add_exception_handler(AuthenticationError, unauthenticated)
    api.add_exception_handler(RecordsRejected, records_rejected)
    api.add_exception_handler(NinjaValidationError, invalid_shape)

