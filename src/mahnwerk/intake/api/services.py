"""Check a batch of JSON records and apply it through the intake, all or nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext as _

from mahnwerk.intake import feeds
from mahnwerk.intake.api.errors import RecordsRejected, problem
from mahnwerk.intake.api.schemas import WEBHOOK_TYPES
from mahnwerk.intake.feeds import FEEDS, Feed, Problem
from mahnwerk.intake.services import apply_records, check_references


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)[:200]
    return "" if value is None else str(value)


def _record_id(feed: Feed, raw: Mapping[str, Any]) -> str | None:
    value = raw.get(feed.key)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def check_batch(*, feed: Feed, raw_records: Sequence[Mapping[str, Any]]
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read a batch of JSON records; returns the clean records and every problem (as dicts with
    record, id, column, value, reason), those of ``Feed.parse`` and ``check_references`` and the
    API's own: unknown fields, lists or objects as values, fractional JSON numbers as amounts
    and the same id twice."""
    known = set(feed.column_names)
    amounts = {column.name for column in feed.columns
               if column.convert in (feeds.amount, feeds.positive_amount)}
    records: list[dict[str, Any]] = []
    found: list[list[Problem]] = []
    complete: list[bool] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_records):
        problems: list[Problem] = []
        flagged: set[str] = set()
        for name, value in raw.items():
            if name not in known:
                problems.append(Problem(name, _shown(value), _(
                    "unknown field; expected fields: %(fields)s") % {
                        "fields": ", ".join(feed.column_names)}))
            elif isinstance(value, dict | list):
                flagged.add(name)
                problems.append(Problem(name, _shown(value), _(
                    "expected a single value (text, number or true/false), not a list or "
                    "object")))
            elif name in amounts and isinstance(value, float):
                flagged.add(name)
                problems.append(Problem(name, _shown(value), _(
                    'send amounts as strings like "12.50", not as JSON numbers with a '
                    "fraction")))
        record, parse_problems = feed.parse(
            {name: value for name, value in raw.items() if name in known and name not in flagged})
        parse_problems = [p for p in parse_problems if p.column not in flagged]
        problems.extend(parse_problems)
        key = record.get(feed.key)
        if key and feed.key not in flagged:
            if key in first_index:
                problems.append(Problem(feed.key, key, _(
                    "the same id is sent twice in this request (first in record %(first)d)")
                    % {"first": first_index[key]}))
            else:
                first_index[key] = index
        records.append(record)
        found.append(problems)
        complete.append(not flagged and not parse_problems)
    usable = [index for index, ok in enumerate(complete) if ok]
    references = check_references(feed=feed, records=[records[i] for i in usable])
    for index, problems in zip(usable, references, strict=True):
        found[index].extend(problems)
    report = [
        problem(record=index, id=_record_id(feed, raw_records[index]), column=p.column,
                 value=p.value, reason=p.reason)
        for index, problems in enumerate(found) for p in problems
    ]
    return records, report


def receive_batch(*, feed: Feed, raw_records: Sequence[Mapping[str, Any]], actor: str
                  ) -> dict[str, int]:
    """Check and apply a batch, all or nothing; raises ``RecordsRejected`` with every problem."""
    records, problems = check_batch(feed=feed, raw_records=raw_records)
    if problems:
        raise RecordsRejected(problems)
    return apply_records(feed=feed, records=records, actor=actor).as_dict()


def receive_webhook(*, kind: Any, data: Any, actor: str) -> dict[str, int]:
    """Apply one incident or payment from a webhook delivery."""
    if kind in (None, ""):
        raise RecordsRejected([problem(record=None, id=None, column="type", value="",
                                        reason=_("required value missing"))])
    if not isinstance(kind, str) or kind not in WEBHOOK_TYPES:
        raise RecordsRejected([problem(
            record=None, id=None, column="type", value=_shown(kind),
            reason=_("unknown value; allowed: %(allowed)s") % {
                "allowed": ", ".join(WEBHOOK_TYPES)})])
    if not isinstance(data, dict):
        raise RecordsRejected([problem(
            record=None, id=None, column="data", value=_shown(data),
            reason=_("a record must be a JSON object with the feed's fields"))])
    return receive_batch(feed=FEEDS[WEBHOOK_TYPES[kind]], raw_records=[data], actor=actor)
