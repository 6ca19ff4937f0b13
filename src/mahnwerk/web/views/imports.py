"""The import page: the platform's files (vendors, products, orders, incidents, payments) as
``mahnwerk import FEED FILE`` reads them, in the browser (issue 10, point 3).

Upload, then a check that writes nothing and lists every problem with line and column, then
"apply", which imports the same kept file. Both run as background tasks
(``intake.tasks``; without a broker at once, in the request); the job's page polls a small
status endpoint (``web/import.js``) while a task works. The pages only parse the request and
call ``intake.import_jobs``.
"""

from __future__ import annotations

import contextlib
import logging

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mahnwerk.intake import import_jobs, tasks
from mahnwerk.intake.import_jobs import ImportJob, ImportJobError, JobState
from mahnwerk.web import access
from mahnwerk.web.forms import FEED_CHOICES, ImportUploadForm
from mahnwerk.web.views.common import render_workspace

log = logging.getLogger(__name__)

#: Room for the form's other fields and the multipart framing above the file's own limit.
MULTIPART_MARGIN = 64 * 1024


def _job_or_404(token: str) -> ImportJob:
    try:
        return import_jobs.load(token=token)
    except ImportJobError:
        raise Http404(_("There is no such import (any more).")) from None


def _queue(task, job: ImportJob) -> None:
    """Ask a worker (or, without a broker, this process at once) to do the job's step."""
    try:
        task.delay(job.token)
    except Exception as exc:  # the broker is down: say so on the job instead of waiting
        log.exception("could not queue %s for import %s", task.name, job.token)
        with contextlib.suppress(ImportJobError):  # discarded meanwhile: nowhere to say it
            import_jobs.not_started(token=job.token, error=_(
                "The background task could not be started (%(error)s); nothing was written. "
                "Try again later.") % {"error": exc})


@access.workspace_view(permission=access.can_work)
def import_page(request: HttpRequest) -> HttpResponse:
    limit = settings.MAHNWERK_IMPORT_MAX_BYTES
    if request.method == "POST":
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
        if announced > limit + MULTIPART_MARGIN:  # refused before the body is read
            messages.error(request, _("The file is too large: a file may have at most "
                                      "%(limit)d MB. Split it into several files.")
                           % {"limit": limit // 1_048_576})
            return redirect("web:import")
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = import_jobs.receive(feed=form.cleaned_data["feed"], name=upload.name,
                                          chunks=upload.chunks(), size=upload.size,
                                          actor=access.actor(request),
                                          language=get_language() or settings.LANGUAGE_CODE)
            except ImportJobError as exc:
                messages.error(request, str(exc))
            else:
                _queue(tasks.check_import, job)
                return redirect("web:import-job", token=job.token)
        else:
            messages.error(request, _("Choose what the file holds and the file."))
    else:
        form = ImportUploadForm()
    return render_workspace(request, "web/import.html", {
        "form": form, "jobs": import_jobs.recent(), "limit": limit,
        "feeds": FEED_CHOICES, "keep_hours": settings.MAHNWERK_IMPORT_KEEP_HOURS,
    }, section="import")


@access.workspace_view(permission=access.can_work)
def import_job(request: HttpRequest, token: str) -> HttpResponse:
    job = _job_or_404(token)
    return render_workspace(request, "web/import_job.html", {
        "job": job, "state": import_jobs.state_label(job.state),
        "feed": dict(FEED_CHOICES).get(job.feed, job.feed),
        "hidden": max(0, job.problem_count - len(job.problems)),
    }, section="import")


@access.workspace_view(permission=access.can_work)
def import_status(request: HttpRequest, token: str) -> JsonResponse:
    """What the job's page polls while a task works: rows read, share done, state."""
    job = _job_or_404(token)
    status = job.status()
    status["label"] = import_jobs.state_label(job.state)
    status["text"] = ngettext("%(rows)d row read", "%(rows)d rows read", job.rows) % {
        "rows": job.rows}
    return JsonResponse(status, headers={"Cache-Control": "no-store"})


@require_POST
@access.workspace_view(permission=access.can_work)
def import_apply(request: HttpRequest, token: str) -> HttpResponse:
    _job_or_404(token)
    try:
        job = import_jobs.claim_apply(token=token)
    except ImportJobError as exc:
        messages.error(request, str(exc))
        return redirect("web:import-job", token=token)
    _queue(tasks.apply_import, job)
    job = import_jobs.load(token=token)
    if job.state == JobState.APPLIED:
        counts = job.counts
        messages.success(request, _("%(file)s imported: %(rows)s; %(created)d new, %(updated)d "
                                    "changed, %(unchanged)d unchanged.") % {
            "file": job.file_name,
            "rows": ngettext("%(count)d row", "%(count)d rows", job.rows) % {"count": job.rows},
            "created": counts.get("created", 0), "updated": counts.get("updated", 0),
            "unchanged": counts.get("unchanged", 0)})
    elif job.state == JobState.FAILED:
        messages.error(request, _("%(file)s was not imported; nothing was written (see below).")
                       % {"file": job.file_name})
    return redirect("web:import-job", token=token)


@require_POST
@access.workspace_view(permission=access.can_work)
def import_discard(request: HttpRequest, token: str) -> HttpResponse:
    _job_or_404(token)
    try:
        job = import_jobs.discard(token=token)
    except ImportJobError as exc:
        messages.error(request, str(exc))
        return redirect("web:import-job", token=token)
    messages.info(request, _("%(file)s discarded.") % {"file": job.file_name})
    return redirect("web:import")
