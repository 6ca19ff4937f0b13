"""Locust users for bench/load_benchmark.py (issue 12, item 4): not run on its own.

* ``IntakeClient`` first sends ``MAHNWERK_LOAD_WARM_UP`` batches (3; not in the figures, which
  start once every client has sent them), then posts the platform's records through the
  intake API as the platform does:
  batches of new orders (``MAHNWERK_LOAD_BATCH`` records each, default 50) and, for every
  fourth batch, the incidents of some of its orders (opening their cases), with the API key in
  ``MAHNWERK_LOAD_API_KEY``; no pause between requests, or, with ``MAHNWERK_LOAD_PACE`` (the
  requests a second each user starts), paced: the platform sends records as its buyers order,
  at a rate, not as fast as the server answers. Paced either as independent senders
  (``MAHNWERK_LOAD_ARRIVALS=independent``, the default: each client's requests start at the
  moments of a Poisson process of that rate, ``_Independent``) or at fixed intervals
  (``fixed``: locust's ``constant_throughput``, each client at a random place in its
  interval: clients in lockstep sent their requests in bursts of several at once, which
  queued on the two cores, docs/benchmarks.md).
* ``SupportAgent`` signs in to the workspace with the demo's support login (a real login:
  the form, its CSRF token, the session cookie) and reads the case list, the first page and
  then a filter, pausing like a person (0.5 to 1.5 s). The statistics start anew once every
  agent is signed in, and no agent asks for a page before (the sign-ins themselves are not in
  the figures, nor the pages they would hold up).

Every id is new (the locust process's pid, the user's number and a counter), so a request is a
real write, never an unchanged record.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Callable

import gevent
from locust import HttpUser, between, constant, constant_throughput, task

BATCH = int(os.environ.get("MAHNWERK_LOAD_BATCH", "50"))
PACE = float(os.environ.get("MAHNWERK_LOAD_PACE", "0"))
ARRIVALS = os.environ.get("MAHNWERK_LOAD_ARRIVALS", "independent")
VENDORS = int(os.environ.get("MAHNWERK_LOAD_VENDORS", "50"))
_users = itertools.count()
_signed_in = 0
_warmed = 0
_warm_up_failed = False
#: Requests each API client sends before the figures start: every web process has then
#: answered some (its first request imports and prepares what later ones reuse).
WARM_UP = int(os.environ.get("MAHNWERK_LOAD_WARM_UP", "3"))


class _Independent:
    """A client's requests at the moments of a Poisson process of ``rate`` a second: the gap
    from one start to the next drawn from the exponential distribution (the arrivals of many
    independent senders, as the platform's are), each user with its own random stream. A
    request that takes longer than its gap starts the next one at once, so the rate holds.
    Written here because locust's wait times are either fixed or uniform between bounds."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def first(self, user: HttpUser) -> float:
        """The wait before a client's first counted request: a gap of the process too, so
        that the clients let go together by the warm-up's barrier do not send at once."""
        gap = user.random.expovariate(self.rate)
        user._due = time.monotonic() + gap
        return gap

    def __call__(self, user: HttpUser) -> float:
        now = time.monotonic()
        due = getattr(user, "_due", now) + user.random.expovariate(self.rate)
        user._due = due
        return max(0.0, due - now)


def _pacing() -> Callable[[HttpUser], float]:
    if not PACE:
        return constant(0)
    if ARRIVALS == "fixed":
        return constant_throughput(PACE)
    if ARRIVALS != "independent":
        raise SystemExit(f"MAHNWERK_LOAD_ARRIVALS={ARRIVALS!r}: write independent or fixed")
    return _Independent(PACE)


_PACING = _pacing()


class IntakeClient(HttpUser):
    def wait_time(self) -> float:
        return _PACING(self)

    def on_start(self) -> None:
        self.prefix = f"L{os.getpid()}-{next(_users)}"
        self.counter = itertools.count()
        self.headers = {"Authorization": f"Bearer {os.environ['MAHNWERK_LOAD_API_KEY']}"}
        self.random = random.Random(self.prefix)
        self.sent: list[str] = []
        global _warmed, _warm_up_failed
        try:
            if not all([self.post_orders() for _ in range(WARM_UP)]):
                _warm_up_failed = True
        finally:
            # As the agents' sign-ins: the figures start once every client has warmed up
            # (unless a warm-up request failed: then the figures keep it, the benchmark lists
            # the failure and the target is missed).
            _warmed += 1
        everyone = self.environment.runner.target_user_count
        if _warmed == everyone and not _warm_up_failed:
            self.environment.stats.reset_all()
        while _warmed < everyone:
            gevent.sleep(0.05)
        # Let go together, the clients would send their first counted requests at once.
        if isinstance(_PACING, _Independent):
            gevent.sleep(_PACING.first(self))
        elif PACE:  # fixed intervals: each client at its own place in the interval
            gevent.sleep(self.random.uniform(0, 1 / PACE))

    def _order(self) -> dict:
        n = next(self.counter)
        product = self.random.randrange(VENDORS * 5)
        buyer = self.random.randrange(100_000)
        return {"order_id": f"{self.prefix}-O{n}", "vendor_id": f"V{product // 5}",
                "product_id": f"P{product}", "buyer_id": f"B{buyer}",
                "buyer_email": f"buyer{buyer}@example.org", "buyer_first_name": "Erika",
                "buyer_last_name": "Mustermann", "street": "Heidestraße", "house_number": "17",
                "postcode": "51147", "city": "Köln", "country": "DE",
                "payment_type": "one_time", "amount_total": "99.00", "currency": "EUR",
                "created_at": "2026-01-15T10:00:00+01:00", "first_invoice_number": f"RE-{n}"}

    @task(4)
    def post_orders(self) -> bool:
        records = [self._order() for _ in range(BATCH)]
        with self.client.post("/api/v1/orders", json={"records": records},
                              headers=self.headers, name="POST /api/v1/orders",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:300]}")
                return False
        self.sent.extend(r["order_id"] for r in records[: BATCH // 5])
        return True

    @task(1)
    def post_incidents(self) -> None:
        if len(self.sent) < BATCH:
            self.post_orders()
            return
        orders, self.sent = self.sent[:BATCH], self.sent[BATCH:]
        records = [{"incident_id": f"{order}-I", "order_id": order, "kind": "chargeback",
                    "occurred_at": "2026-02-15T09:00:00+01:00", "open_amount": "99.00",
                    "currency": "EUR"} for order in orders]
        with self.client.post("/api/v1/incidents", json={"records": records},
                              headers=self.headers, name="POST /api/v1/incidents",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:300]}")
        return None


class SupportAgent(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        page = self.client.get("/anmelden/", name="GET /anmelden/")
        token = page.cookies.get("csrftoken") or self.client.cookies.get("csrftoken")
        response = self.client.post(
            "/anmelden/", name="POST /anmelden/", allow_redirects=False,
            data={"username": "support", "password": os.environ.get(
                "MAHNWERK_LOAD_PASSWORD", "demo"), "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.host}/anmelden/"})
        if response.status_code != 302:
            raise RuntimeError(f"the support login failed: {response.status_code}")
        # The figures count from the moment the last agent is signed in, and every agent
        # waits for that moment before its first page: twenty password checks at once
        # (PBKDF2) would otherwise hold up the first pages of the agents signed in early,
        # and those pages, answered after the reset, were counted with the sign-ins' seconds
        # (the 2 s of the 99th percentile).
        global _signed_in
        _signed_in += 1
        everyone = self.environment.runner.target_user_count
        if _signed_in == everyone:
            self.environment.stats.reset_all()
        while _signed_in < everyone:
            gevent.sleep(0.05)

    @task(3)
    def case_list(self) -> None:
        self.client.get("/faelle/", name="GET /faelle/")

    @task(1)
    def case_list_filtered(self) -> None:
        self.client.get("/faelle/?state=open", name="GET /faelle/?state=open")
