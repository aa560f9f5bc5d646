"""Curator pages: submissions, uploads with live progress, quarantine and the subject map.
Every view is staff-only; anyone else gets a 404."""

from django.contrib import messages
from django.core.files.storage import storages
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from collections_app.models import Collection, Status
from tcia.core.permissions import curator_required, get_visible_or_404
from tcia.core.params import int_param

from .forms import SubjectMapImportForm, SubjectRenameForm, SubmissionForm, UploadForm
from .models import IntakeBatch, QuarantinedFile, SubjectMapping, Submission
from .services import intake as intake_service
from .services import submissions as submission_service


@curator_required
def dashboard(request):
    submissions = Submission.objects.select_related("collection").all()
    without = Collection.objects.filter(status__in=[Status.DRAFT, Status.IN_CURATION], submission__isnull=True)
    return render(request, "curation/dashboard.html", {"submissions": submissions, "drafts": without})


@curator_required
def submission_create(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    if hasattr(collection, "submission"):
        return redirect("curation:submission", pk=collection.submission.pk)
    form = SubmissionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        submission = submission_service.create_submission(
            collection=collection,
            actor=request.user,
            options=form.cleaned_data["options"],
            promised_subjects=form.cleaned_data["promised_subjects"],
            promised_series=form.cleaned_data["promised_series"],
        )
        return redirect("curation:submission", pk=submission.pk)
    return render(request, "curation/submission_create.html", {"collection": collection, "form": form})


@curator_required
def submission_detail(request, pk):
    submission = get_visible_or_404(Submission.objects.select_related("collection"), request.user, pk=pk)
    return render(
        request,
        "curation/submission_detail.html",
        {
            "submission": submission,
            "batches": submission.batches.all()[:50],
            "upload_form": UploadForm(),
            "quarantined": submission.quarantine.filter(purged_at__isnull=True).count(),
            "subjects": submission.subject_mappings.count(),
        },
    )


@curator_required
@require_POST
def upload(request, pk):
    submission = get_visible_or_404(Submission.objects.all(), request.user, pk=pk)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        if request.headers.get("x-requested-with") == "XMLHttpRequest":
            return JsonResponse({"error": "Choose at least one file."}, status=400)
        messages.error(request, "Choose at least one file.")
        return redirect("curation:submission", pk=pk)
    batch = intake_service.stage_upload(submission=submission, files=form.cleaned_data["files"], actor=request.user)
    url = batch_url(batch)
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        return JsonResponse({"batch": batch.pk, "url": url})
    return redirect(url)


def batch_url(batch):
    from django.urls import reverse

    return reverse("curation:batch", args=[batch.pk])


@curator_required
def batch_detail(request, pk):
    batch = get_visible_or_404(IntakeBatch.objects.select_related("submission__collection"), request.user, pk=pk)
    return render(request, "curation/batch_detail.html", {"batch": batch, "items": batch.items.all()[:2000]})


@curator_required
def batch_status(request, pk):
    batch = get_visible_or_404(IntakeBatch.objects.all(), request.user, pk=pk)
    since = int_param(request, "since", 0, minimum=0)
    items = [
        {"id": i.pk, "name": i.name, "outcome": i.outcome, "label": i.get_outcome_display(), "reason": i.reason}
        for i in batch.items.filter(pk__gt=since)[:500]
    ]
    return JsonResponse(
        {
            "state": batch.state,
            "total": batch.total,
            "processed": batch.processed,
            "accepted": batch.accepted,
            "unchanged": batch.unchanged,
            "conflicts": batch.conflicts,
            "rejected": batch.rejected,
            "error": batch.error,
            "items": items,
        }
    )


@curator_required
def quarantine_list(request, pk):
    submission = get_visible_or_404(Submission.objects.select_related("collection"), request.user, pk=pk)
    return render(
        request, "curation/quarantine_list.html", {"submission": submission, "files": submission.quarantine.all()[:1000]}
    )


@curator_required
def quarantine_download(request, pk):
    item = get_visible_or_404(QuarantinedFile.objects.all(), request.user, pk=pk)
    if not item.storage_name:
        raise Http404("This file was purged or had no bytes.")
    response = FileResponse(storages["quarantine"].open(item.storage_name, "rb"), as_attachment=True,
                            filename=f"quarantined-{item.pk}.bin", content_type="application/octet-stream")
    response["Cache-Control"] = "no-store"
    return response


@curator_required
def subject_map(request, pk):
    submission = get_visible_or_404(Submission.objects.select_related("collection"), request.user, pk=pk)
    form = SubjectMapImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            text = form.cleaned_data["csv_file"].read().decode("utf-8-sig")
            count = submission_service.import_subject_map(submission=submission, text=text, actor=request.user)
        except (UnicodeDecodeError, submission_service.SubjectMapError) as exc:
            messages.error(request, f"{form.cleaned_data['csv_file'].name}: {exc}")
        else:
            messages.success(request, f"Imported {count} subject mapping(s).")
            return redirect("curation:subjects", pk=pk)
    return render(
        request,
        "curation/subject_map.html",
        {"submission": submission, "mappings": submission.subject_mappings.all(), "form": form},
    )


@curator_required
@require_POST
def subject_rename(request, pk):
    mapping = get_object_or_404(SubjectMapping.objects.select_related("submission"), pk=pk)
    form = SubjectRenameForm(request.POST)
    if form.is_valid():
        try:
            submission_service.rename_subject(
                mapping=mapping, subject_id=form.cleaned_data["subject_id"], actor=request.user, reason=form.cleaned_data["reason"]
            )
            messages.success(request, "Subject renamed; files received from now on use the new ID.")
        except submission_service.SubjectMapError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "subject_id: letters, digits, '.', '-' and '_' only.")
    return redirect("curation:subjects", pk=mapping.submission_id)
