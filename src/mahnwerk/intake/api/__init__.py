"""The intake HTTP API (version 1): the platform's five feeds as JSON, plus a signed webhook.

The JSON fields are the feed columns of platform-feed.md. The ninja schemas only describe them
for OpenAPI; every value is read by ``Feed.parse`` and checked by ``check_references``, and
written by ``apply_records``, exactly as in the file import, so both accept the same data and
name the same problems.

Decisions the OpenAPI description repeats for senders:

* A batch is ``{"records": [...]}`` with at most ``MAX_RECORDS`` records. All or nothing: if
  any record has a problem, the answer is 422 listing every problem, and nothing is written.
* Amounts are strings like ``"12.50"`` (JSON integers are exact and accepted too); a JSON number
  with a fraction (``12.5``) is refused, because binary floats do not hold cents exactly.
* Booleans are JSON ``true``/``false`` (the file import's words ``"True"``, ``"ja"`` ... pass as
  well); date-times are ISO 8601, read as German time when they have no offset.
* Unknown fields are refused, so a misspelt optional field is not silently dropped.
* The webhook takes one record per delivery: ``{"type": "incident"|"payment", "data": {...}}``.

The parts, each in its module:

* ``errors``: the problem shape and how every refusal is answered (``install_error_handlers``);
* ``auth``: the API key, and the request checks that run with it (body size, content type, the
  webhook's signature, JSON syntax);
* ``schemas``: the request and answer schemas, for OpenAPI;
* ``services``: check a batch of JSON records and apply it, all or nothing; the webhook;
* ``selectors``: one stored record in the shape it is sent in;
* ``endpoints``: the router and its views, with the retries made safe by an Idempotency-Key
  (``api_clients.respond_once``).

``web.api`` mounts ``endpoints.router`` at ``/api/v1/``.
"""
