"""The endpoints of the machines around Mahnwerk: probes (``/healthz``, ``/readyz``) and
Prometheus (``/metrics``). Public like the login page: no session, GET only; what they tell is
in ``health`` and ``metrics``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mahnwerk.ops import health, metrics


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answers; nothing else is asked (no database)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: 200 when no check failed, 503 (with each check's reason) when one did."""
    ready, results = health.readiness()
    return JsonResponse(
        {"status": "ok" if ready else "failed",
         "checks": {result.name: result.as_dict() for result in results}},
        status=200 if ready else 503)


@never_cache
@require_GET
def prometheus(request: HttpRequest) -> HttpResponse:
    refused = metrics.refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(metrics.exposition(),
                        content_type=metrics.prometheus_client.CONTENT_TYPE_LATEST)
