"""Public: the "Report a problem with this collection" form. Staff: the report queue, a
report with its answers, links and errata."""
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from collections_app.models import Collection
from tcia.core.clientip import client_ip
from tcia.core.permissions import curator_required, get_visible_or_404

from . import services
from .forms import HONEYPOT, ReportForm
from .models import Erratum, ProblemReport


def _rejected(text: str, status: int) -> HttpResponse:
    return HttpResponse(f"{text}\n".encode(), status=status, content_type="text/plain; charset=utf-8")


def report(request, slug):
    collection = get_visible_or_404(Collection.objects.all(), request.user, slug=slug)
    versions = {v.pk: v for v in collection.versions.filter(withdrawn_at__isnull=True)}
    if request.method == "POST":
        form = ReportForm(request.POST)
        if request.POST.get(HONEYPOT, ""):
            return _rejected("This report could not be accepted: a field meant to stay empty was filled in "
                             "(form-filling software does that). Please write to us with the form in your browser.", 400)
        if not services.allow(client_ip(request)):
            _limit, window = services.rate()
            response = _rejected(f"Too many reports from your address: please try again in {window // 60} minutes.", 429)
            response["Retry-After"] = str(window)
            return response
        if form.is_valid():
            d = form.cleaned_data
            services.submit(collection=collection, category=d["category"], message=d["message"],
                            version=versions.get(d["version"]), series_uid=d["series_uid"], page=d["page"] or "",
                            user=request.user, name=d["name"], email=d["email"])
            return render(request, "feedback/report_thanks.html", {"collection": collection})
    else:
        version = request.GET.get("version", "")
        form = ReportForm(initial={"version": int(version) if version.isdigit() else None,
                                   "page": request.GET.get("from", "") if request.GET.get("from") in ("collection", "landing") else "",
                                   "series_uid": request.GET.get("series", "")[:64]})
    return render(request, "feedback/report_form.html", {"collection": collection, "form": form, "honeypot": HONEYPOT},
                  status=400 if form.is_bound else 200)


# Staff ------------------------------------------------------------------------------------


@curator_required
def queue(request):
    state = request.GET.get("state", "open")
    reports = ProblemReport.objects.select_related("collection", "version", "series")
    if state in ProblemReport.State.values:
        reports = reports.filter(state=state)
    return render(request, "feedback/queue.html", {"reports": reports[:200], "state": state,
                                                   "states": ProblemReport.State.choices})


@curator_required
def detail(request, pk):
    r = get_object_or_404(ProblemReport.objects.select_related("collection", "version", "series", "reporter",
                                                               "finding", "correction"), pk=pk)
    from curation.checks.models import Finding
    from curation.models import Correction

    return render(request, "feedback/detail.html", {
        "r": r, "replies": r.replies.select_related("author"), "errata": r.errata.all(),
        "findings": Finding.objects.filter(collection=r.collection).order_by("-pk")[:200],
        "corrections": Correction.objects.filter(collection=r.collection).order_by("-pk")[:200],
        "versions": r.collection.versions.order_by("-number"), "states": ProblemReport.State.choices,
    })


def _report_or_404(pk):
    return get_object_or_404(ProblemReport.objects.select_related("collection"), pk=pk)


def _act(request, report, action, done: str = ""):
    """Run a curator's action on `report`; its FeedbackError becomes the page's message."""
    try:
        action()
    except services.FeedbackError as exc:
        messages.error(request, str(exc))
    else:
        if done:
            messages.success(request, done)
    return redirect("feedback:detail", pk=report.pk)


@curator_required
@require_POST
def reply(request, pk):
    r = _report_or_404(pk)
    try:
        answer = services.reply(r, actor=request.user, body=request.POST.get("body", ""),
                                email_reporter=request.POST.get("email_reporter") == "1")
    except services.FeedbackError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Answer recorded" + (" and e-mailed to the reporter." if answer.emailed_to_reporter else "."))
    return redirect("feedback:detail", pk=r.pk)


def _optional_pk(value):
    return int(value) if (value or "").isdigit() else None


@curator_required
@require_POST
def link(request, pk):
    from curation.checks.models import Finding
    from curation.models import Correction

    r = _report_or_404(pk)
    finding_pk, correction_pk = _optional_pk(request.POST.get("finding")), _optional_pk(request.POST.get("correction"))
    finding = get_object_or_404(Finding, pk=finding_pk) if finding_pk else None
    correction = get_object_or_404(Correction, pk=correction_pk) if correction_pk else None
    return _act(request, r, lambda: services.link(r, actor=request.user, finding=finding, correction=correction),
                "Links saved.")


@curator_required
@require_POST
def state(request, pk):
    r = _report_or_404(pk)
    return _act(request, r, lambda: services.set_state(r, actor=request.user, state=request.POST.get("state", "")))


@curator_required
@require_POST
def erratum(request, pk):
    r = _report_or_404(pk)
    version_pk = _optional_pk(request.POST.get("version"))
    version = get_object_or_404(r.collection.versions, pk=version_pk) if version_pk else None
    return _act(request, r, lambda: services.publish_erratum(
        collection=r.collection, actor=request.user, text=request.POST.get("text", ""), version=version, report=r),
        "Erratum published on the collection page and its landing pages.")


@curator_required
@require_POST
def erratum_withdraw(request, pk):
    e = get_object_or_404(Erratum, pk=pk)
    services.withdraw_erratum(e, actor=request.user, reason=request.POST.get("reason", "")[:500])
    messages.success(request, "Erratum withdrawn.")
    return redirect("feedback:detail", pk=e.report_id) if e.report_id else redirect("feedback:queue")
