"""The HTTP API, version 1, mounted at ``/api/v1/`` (OpenAPI at ``openapi.json``, docs at ``docs``).

Only the intake is exposed so far (``mahnwerk.intake.api``).
"""

from ninja import NinjaAPI, Swagger
from ninja.openapi.docs import ABS_TPL_PATH

from mahnwerk.intake.api.endpoints import router as intake_router
from mahnwerk.intake.api.errors import install_error_handlers

DESCRIPTION = """\
The checkout platform sends its data here: the same five feeds as the file import
(vendors, products, orders, incidents, payments), as JSON, with the feed's columns as fields.

**Authentication.** Every request carries the client's API key, as `Authorization: Bearer <key>`
or `X-API-Key: <key>`. Keys are made with `mahnwerk api-client create NAME`.

**Batches.** `POST /api/v1/<feed>` takes `{"records": [...]}` with at most 1000 records and
answers `{"created": n, "updated": n, "unchanged": n}`. All or nothing: if any record has a
problem, nothing is written and the answer is 422 with every problem:
`{"detail": [{"record": 0, "id": "...", "column": "...", "value": "...", "reason": "..."}]}`
(`record` is the 0-based index in `records`). Sending the same record again changes nothing.
Send 10 to 50 records a request (10 for the shortest answers, 50 for the most records a
second): a request has a fixed cost besides its records', and at most as many requests at once
as the server has web processes.

**Values.** Amounts are strings with a point, like `"12.50"` (a JSON integer is accepted, a JSON
number with a fraction is not); booleans are `true`/`false`; date-times ISO 8601 (without an
offset they are read as German time). Unknown fields are refused.

**Retries.** Send an `Idempotency-Key` header to make a retry safe: the answer to the first
applied request is stored and replayed (header `Idempotent-Replayed: true`) to every retry with
the same body; the same key with a different body is refused with 422. A refused request stores
nothing, so it may be corrected and sent again under the same key.

**Webhook.** `POST /api/v1/webhooks/platform` takes one incident or payment,
`{"type": "incident"|"payment", "data": {...}}`, signed: `X-Mahnwerk-Timestamp` (unix seconds),
`X-Mahnwerk-Delivery` (your id of this delivery) and `X-Mahnwerk-Signature` (hex HMAC-SHA256 of
`<timestamp>.<delivery>.<raw body>` with the client's webhook secret, `sha256=` prefix allowed).
The timestamp must lie within 300 seconds of the server's clock; a delivery id is applied once
per client. A refused delivery is not recorded: correct it and send it again under the same
delivery id and timestamp. (Without `X-Mahnwerk-Delivery`, sign `<timestamp>.<raw body>`; the
timestamp is then applied once per client.)

**Other refusals** answer `{"detail": "message"}`: 400 malformed JSON or headers, 401 missing or
wrong key or signature, 404 unknown id, 413 body too large, 415 not `application/json`.
Messages are in the language of `Accept-Language` (German or English).
"""


class BundledSwagger(Swagger):
    """The docs page with ninja's bundled Swagger UI, from this site, never from a CDN.

    ninja renders its bundled page only when "ninja" is an installed app, and its page that
    loads Swagger UI from a CDN otherwise (``ninja.openapi.docs.render_template``). It is no
    installed app (settings.py: it would be imported at every command's start); its templates
    and static files are found through TEMPLATES' DIRS and STATICFILES_DIRS, so its bundled
    page is the one to render either way."""

    template_cdn = str(ABS_TPL_PATH / "swagger.html")


api = NinjaAPI(
    title="Mahnwerk intake API",
    docs=BundledSwagger(),
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
)
install_error_handlers(api)
api.add_router("/", intake_router)
