"""Dunning runs: the preview (nothing stored), starting a run, executing or discarding it.

"Lauf anlegen" creates the run at once in the state "deciding" (``services.create_run``) and
hands its decide step to a background task (``dunning.tasks.decide_in_background``, under a
claim as executing is); the page polls how many cases are decided and shows the decisions when
they are written. A run that failed or was interrupted while deciding is decided again
("Erneut entscheiden", ``run_decide``) or discarded.

"Ausführen" takes the run for one execution (``services.claim_execution``: a second click or
another process starts nothing) and hands it to a background task
(``dunning.tasks.execute_in_background``: a Celery worker with a broker, a thread of the web
process in the embedded set-up); the page returns at once. The run's page polls its progress
(``run_progress``, an htmx partial every second): decisions executed of all, what executing did
so far, and a failure with the case and the error. The run can be left and come back to; a run
interrupted anywhere (a failure, a restart) is continued with "Fortsetzen" (the same call
again: decisions already executed are skipped, no letter is written twice).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from mahnwerk.cases import selectors as case_selectors
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.selectors import CurrencyTotal
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.dunning import services as dunning_services
from mahnwerk.dunning import tasks as dunning_tasks
from mahnwerk.dunning.models import DunningRun, RunState
from mahnwerk.web import access, list_tables, portal_lists, reads
from mahnwerk.web.filters import DecisionFilterSet, PreviewFilterForm
from mahnwerk.web.forms import RunForm
from mahnwerk.web.models import SavedList
from mahnwerk.web.views import lists, saved_filters
from mahnwerk.web.views.common import page_of, render_workspace

#: The preview lists this many decisions a page; the counts cover all of them.
PREVIEW_ROWS = 50

#: The columns of a run's decisions (``web.filters.DECISION_SORTS``).
DECISION_COLUMNS = [
    ("order_id", gettext_lazy("order id"), "nowrap"),
    ("vendor", gettext_lazy("vendor"), ""),
    ("open_amount", gettext_lazy("open amount"), "num"),
    ("action", gettext_lazy("action"), "nowrap"),
    ("reason", gettext_lazy("reason"), ""),
    ("executed", gettext_lazy("executed"), "nowrap"),
    ("outcome", gettext_lazy("outcome"), ""),
]
#: The columns of the run preview (``web.filters.PREVIEW_SORTS``).
PREVIEW_COLUMNS = [
    ("order_id", gettext_lazy("order id"), "nowrap"),
    ("vendor", gettext_lazy("vendor"), ""),
    ("open_amount", gettext_lazy("open amount"), "num"),
    ("action", gettext_lazy("action"), "nowrap"),
    ("reason", gettext_lazy("reason"), ""),
]


def _counts(planned: list[dunning_services.Planned]) -> list[tuple[str, int]]:
    """How many decisions of each action and level (``send1``, ``skip``), as the run counts."""
    counts = Counter(f"{p.decision.action}{p.decision.level or ''}" for p in planned)
    return sorted(counts.items())


def _preview(request: HttpRequest, form: RunForm
             ) -> tuple[list[dunning_services.Planned], list[dunning_services.Planned],
                        PreviewFilterForm]:
    """Every decision the run would take, and those the preview's filter lists, in its order
    (each case's trigger read in one query for the trigger filter)."""
    planned = dunning_services.preview_run(as_of=form.cleaned_data["as_of"],
                                           vendor_id=form.vendor_id())
    only = PreviewFilterForm(request.GET)
    triggers: dict[int, str] = {}
    if only.is_valid() and only.cleaned_data["trigger"]:
        triggers = dict(DebtCase.objects.filter(
            pk__in=[p.facts.case_id for p in planned]).values_list("pk", "trigger"))
    return planned, only.planned(planned, triggers=triggers), only


def _preview_query(request: HttpRequest) -> str:
    return lists.filter_query(request.GET, [*RunForm.base_fields,
                                            *PreviewFilterForm.base_fields])


@access.workspace_view
def run_list(request: HttpRequest) -> HttpResponse:
    preview = None
    extra: dict[str, Any] = {}
    if "as_of" in request.GET:
        form = RunForm(request.GET)
        if form.is_valid():
            planned, shown, only = _preview(request, form)
            page = Paginator(shown, PREVIEW_ROWS).get_page(request.GET.get("preview_page"))
            totals: dict[str, list[Decimal]] = {}
            for p in shown:
                totals.setdefault(p.facts.currency, []).append(p.facts.open_amount)
            query = _preview_query(request)
            preview = {"rows": page, "page": page, "total": len(planned),
                       "shown": len(shown), "counts": _counts(planned), "filter": only,
                       "totals": [CurrencyTotal(currency, len(amounts), sum(amounts))
                                  for currency, amounts in sorted(totals.items())],
                       "headers": lists.sort_headers(
                           request, PREVIEW_COLUMNS,
                           only.cleaned_data.get("sort", "") if only.is_valid() else ""),
                       "query": query,
                       "page_range": page.paginator.get_elided_page_range(
                           page.number, on_each_side=2, on_ends=1)}
            extra = saved_filters.context(request, SavedList.RUN_PREVIEW, query)
    else:
        form = RunForm()
    return render_workspace(request, "web/run_list.html", {
        "form": form, "preview": preview, "page": page_of(request, reads.runs(), 25),
        "active": dunning_selectors.active_run(), **extra,
    }, section="runs")


@access.workspace_view
def run_preview_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The run preview's current filter as CSV or XLSX (nothing is stored)."""
    if fmt not in portal_lists.FORMATS:
        raise Http404
    form = RunForm(request.GET)
    only = PreviewFilterForm(request.GET)
    if not form.is_valid() or not only.is_valid():
        messages.error(request, _("Please check the filter: nothing was exported."))
        return redirect(reverse("web:runs") + "?" + _preview_query(request))
    _planned, shown, _only = _preview(request, form)
    table = list_tables.preview(shown)
    name = f"mahnlauf-vorschau-{form.cleaned_data['as_of']:%Y-%m-%d}.{fmt}"
    content = portal_lists.as_csv(table) if fmt == "csv" else portal_lists.as_xlsx(table)
    return lists.download(request, name=name, content=content, order_ids=table.order_ids)


@require_POST
@access.workspace_view(permission=access.can_work)
def run_start(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid date."))
        return redirect("web:runs")
    try:
        run = dunning_services.create_run(as_of=form.cleaned_data["as_of"],
                                          vendor_id=form.vendor_id(),
                                          actor=access.actor(request), user=request.user)
    except dunning_services.RunError as exc:
        messages.error(request, str(exc))
        return redirect("web:runs")
    _decide(request, run)
    return redirect("web:run", pk=run.pk)


def _decide(request: HttpRequest, run: DunningRun) -> None:
    """Hand the run's decide step to a background task, and say how it went."""
    try:
        worker = dunning_services.claim_execution(run=run)
    except dunning_services.RunError as exc:
        messages.error(request, str(exc))
        return
    try:
        where = dunning_tasks.decide_in_background(run_id=run.pk, worker=worker)
    except Exception as exc:  # the broker cannot be reached: nothing started
        dunning_services.release_execution(run=run, worker=worker)
        messages.error(request, _("Run #%(run)d could not be handed to the worker (%(error)s); "
                                  "nothing was decided. Try again in a moment, or discard "
                                  "the run.") % {"run": run.pk, "error": exc})
        return
    run.refresh_from_db()
    progress = dunning_selectors.run_progress(run=run)
    if progress.phase == "ready":
        messages.success(request, _("Run #%(run)d created: check its decisions, then execute "
                                    "it.") % {"run": run.pk})
    elif progress.phase == "failed":
        messages.error(request, _("Run #%(run)d could not be decided: %(error)s")
                       % {"run": run.pk, "error": progress.failure})
    elif where != "here":
        messages.info(request, _("Run #%(run)d is being decided. This page shows how far it "
                                 "is; you can leave it and come back.") % {"run": run.pk})


@require_POST
@access.workspace_view(permission=access.can_work)
def run_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Decide again a run that failed or was interrupted while deciding, in the background."""
    run = _run_or_404(pk)
    if run.state != RunState.DECIDING:
        messages.error(request, _("Run #%(run)d is decided already (%(state)s).")
                       % {"run": run.pk, "state": run.get_state_display()})
        return redirect("web:run", pk=run.pk)
    _decide(request, run)
    return redirect("web:run", pk=run.pk)


def _run_or_404(pk: int) -> DunningRun:
    try:
        return reads.run(pk=pk)
    except DunningRun.DoesNotExist:
        raise Http404 from None


def _decision_filters(run: DunningRun, data: Any) -> DecisionFilterSet:
    return DecisionFilterSet(data or None,
                             queryset=reads.run_decisions(dunning_selectors.decisions(run=run)))


@access.workspace_view
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(pk)
    filters = _decision_filters(run, request.GET)
    decisions = filters.qs
    totals = case_selectors.totals_by_currency(
        DebtCase.objects.filter(pk__in=decisions.order_by().values("case_id")))
    # One decision per case of the run: the count of the cases is the count of the decisions.
    context = lists.listing(request, decisions, columns=DECISION_COLUMNS,
                            sort=filters.current_sort(), totals=totals,
                            filterset=DecisionFilterSet)
    counts = run.counts or dunning_selectors.run_counts(run=run)
    progress = dunning_selectors.run_progress(run=run)
    return render_workspace(request, "web/run_detail.html", {
        **context, "run": run, "form": filters.form, "filters": filters,
        "shown": context["count"],
        **saved_filters.context(request, SavedList.RUN_DECISIONS, context["query"]),
        "counts": sorted(counts.items()), "total": sum(counts.values()),
        "executed": progress.done, "progress": progress,
        "can_execute": progress.can_execute,
        "can_resume": progress.can_resume,
        "can_discard": progress.can_discard,
        "can_work": access.can_work(request.user),
    }, section="runs")


@access.workspace_view
def run_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """A run's decisions of the current filter as CSV or XLSX."""
    run = _run_or_404(pk)
    if fmt not in portal_lists.FORMATS:
        raise Http404
    filters = _decision_filters(run, request.GET)
    if filters.is_bound and not filters.form.is_valid():
        messages.error(request, _("Please check the filter: nothing was exported."))
        return redirect(reverse("web:run", args=[run.pk]) + "?"
                        + lists.filter_query(request.GET, DecisionFilterSet))
    table = list_tables.decisions(filters.qs)
    content = portal_lists.as_csv(table) if fmt == "csv" else portal_lists.as_xlsx(table)
    return lists.download(request, name=f"mahnlauf-{run.pk}-entscheidungen.{fmt}",
                          content=content, order_ids=table.order_ids)


@access.workspace_view
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's progress as a partial of its page, which polls it while the run is decided
    or executed. When that ends (decided, done, failed, stopped), a polling page is told to
    load itself again, so that its state, its buttons and its decisions are those of the end."""
    run = _run_or_404(pk)
    progress = dunning_selectors.run_progress(run=run)
    if request.htmx and not progress.polling:
        return HttpResponseClientRefresh()
    return render(request, "web/_run_progress.html", {
        "run": run, "progress": progress, "can_work": access.can_work(request.user),
    })


@require_POST
@access.workspace_view(permission=access.can_work)
def run_execute(request: HttpRequest, pk: int) -> HttpResponse:
    """Execute a decided run, or resume one that was interrupted (the same call), in the
    background; the run's page shows its progress."""
    run = _run_or_404(pk)
    try:
        worker = dunning_services.claim_execution(run=run)
    except dunning_services.RunError as exc:
        messages.error(request, str(exc))
        return redirect("web:run", pk=run.pk)
    user_id = request.user.pk if request.user.is_authenticated else None
    try:
        where = dunning_tasks.execute_in_background(
            run_id=run.pk, worker=worker, actor=access.actor(request), user_id=user_id)
    except Exception as exc:  # the broker cannot be reached: nothing started
        dunning_services.release_execution(run=run, worker=worker)
        messages.error(request, _("Run #%(run)d could not be handed to the worker (%(error)s); "
                                  "nothing was executed. Try again in a moment.")
                       % {"run": run.pk, "error": exc})
        return redirect("web:run", pk=run.pk)
    run.refresh_from_db()
    progress = dunning_selectors.run_progress(run=run)
    if progress.phase == "done":
        messages.success(request, ngettext("Run #%(run)d executed: %(done)d decision applied.",
                                           "Run #%(run)d executed: %(done)d decisions applied.",
                                           progress.done) % {"run": run.pk, "done": progress.done})
    elif progress.phase == "failed":
        messages.error(request, _("Run #%(run)d stopped at order %(order)s: %(error)s")
                       % {"run": run.pk, "order": progress.failed_order or "–",
                          "error": progress.failure})
    elif where != "here":
        messages.info(request, _("Run #%(run)d is being executed. This page shows its "
                                 "progress; you can leave it and come back.")
                      % {"run": run.pk})
    return redirect("web:run", pk=run.pk)


@require_POST
@access.workspace_view(permission=access.can_work)
def run_discard(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(pk)
    try:
        dunning_services.discard_run(run=run, actor=access.actor(request))
    except dunning_services.RunError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Run #%(run)d discarded; nothing was sent.")
                         % {"run": run.pk})
    return redirect("web:run", pk=run.pk)
