"""Curator pages: submissions, uploads with live progress, quarantine and the subject map.
Every view is staff-only; anyone else gets a 404."""

import json

from django.contrib import messages
from django.core.files.storage import storages
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from collections_app.models import Collection, Status
from tcia.core.permissions import curator_required, get_visible_or_404
from tcia.core.params import int_param

from . import cockpit
from .forms import SubjectMapImportForm, SubjectRenameForm, SubmissionForm, UploadForm
from .models import IntakeBatch, QuarantinedFile, SubjectMapping, Submission
from .services import staging
from .services.intake import max_file_bytes, max_upload_bytes
from .services import submissions as submission_service
from .uploads import LimitedUploadHandler


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
            "max_file_bytes": max_file_bytes(),
            "max_request_bytes": max_upload_bytes(),
            "quarantined": submission.quarantine.filter(purged_at__isnull=True).count(),
            "subjects": submission.subject_mappings.count(),
            "steps": cockpit.steps(submission),
            "timeline": cockpit.timeline(submission),
        },
    )


@csrf_exempt  # the upload handler must be in place before the body is read; CSRF is checked in _upload
@curator_required
@require_POST
def upload(request, pk):
    handler = LimitedUploadHandler(request)
    request.upload_handlers = [handler]
    return _upload(request, pk, handler)


@csrf_protect
def _upload(request, pk, handler):
    """Stage the files of one request into a batch. The uploader sends a large selection as many
    requests into one batch (`batch`), each file under the field `file:<key>` so a resent request
    stages nothing twice, then closes it; a plain form post is one request, closed at once."""
    submission = get_visible_or_404(Submission.objects.all(), request.user, pk=pk)
    ajax = request.headers.get("x-requested-with") == "XMLHttpRequest"
    files = [(field, f) for field in request.FILES for f in request.FILES.getlist(field)
             if field == "files" or field.startswith("file:")]
    try:
        announced = json.loads(request.POST.get("skipped") or "[]")[:10000]
        if not isinstance(announced, list):
            raise ValueError
    except ValueError:
        return JsonResponse({"error": "skipped: a JSON list of {name, size, reason} was expected."}, status=400)
    if not files and not handler.skipped and not announced:
        if ajax:
            return JsonResponse({"error": "Choose at least one file."}, status=400)
        messages.error(request, "Choose at least one file.")
        return redirect("curation:submission", pk=pk)
    batch_id = request.POST.get("batch")
    if batch_id:
        if not batch_id.isdigit():
            return JsonResponse({"error": "batch: a batch number was expected."}, status=400)
        batch = get_object_or_404(IntakeBatch, pk=int(batch_id), submission=submission)
        if batch.closed:
            return JsonResponse({"error": f"batch {batch.pk} is closed: start a new upload."}, status=409)
    else:
        names = [f.name for _, f in files] + [s["name"] for s in handler.skipped]
        label = ", ".join(names[:3]) + (" and more" if len(names) > 3 else "")
        batch = staging.open_batch(submission=submission, source=IntakeBatch.Source.UPLOAD, actor=request.user,
                                   label=label, closed=False)
    rejected = []
    for skipped in handler.skipped:
        staging.reject_unstaged(batch, name=skipped["name"], reason=skipped["reason"], size=skipped["size"],
                                head=skipped["head"])
        rejected.append({"name": skipped["name"], "reason": skipped["reason"]})
    for entry in announced:
        if not isinstance(entry, dict):
            continue
        name, reason = str(entry.get("name", ""))[:500], str(entry.get("reason", "refused by the uploader"))[:300]
        size = entry.get("size") if isinstance(entry.get("size"), int) and entry.get("size") >= 0 else 0
        staging.reject_unstaged(batch, name=name, reason=reason, size=size)
        rejected.append({"name": name, "reason": reason})
    keys = []
    for field, upload_file in files:
        key = field[5:] if field.startswith("file:") else ""
        if upload_file.size == 0:
            staging.reject_unstaged(batch, name=upload_file.name, reason="empty file (0 bytes)")
            rejected.append({"name": upload_file.name, "reason": "empty file (0 bytes)"})
        else:
            staging.stage(batch, name=upload_file.name, fileobj=upload_file, client_key=key)
        keys.append(key)
    if request.POST.get("more") != "1":
        staging.close(batch)
    else:
        staging.enqueue(batch)
    url = reverse("curation:batch", args=[batch.pk])
    if ajax:
        return JsonResponse({"batch": batch.pk, "url": url, "keys": keys, "rejected": rejected})
    return redirect(url)


@curator_required
@require_POST
def batch_close(request, pk):
    """The uploader has sent every part: finish the batch once its files are taken."""
    batch = get_visible_or_404(IntakeBatch.objects.all(), request.user, pk=pk)
    if not batch.closed:
        staging.close(batch)
    return JsonResponse({"batch": batch.pk, "url": reverse("curation:batch", args=[batch.pk])})


@curator_required
@require_POST
def batch_retry(request, pk):
    batch = get_visible_or_404(IntakeBatch.objects.all(), request.user, pk=pk)
    count = staging.retry(batch, actor=request.user)
    if count:
        messages.success(request, f"Retrying {count} file{pluralize(count)}.")
    else:
        messages.info(request, "Nothing to retry: no failed or rejected file of this batch has its original kept.")
    return redirect("curation:batch", pk=batch.pk)


@curator_required
def batch_detail(request, pk):
    batch = get_visible_or_404(IntakeBatch.objects.select_related("submission__collection"), request.user, pk=pk)
    items = batch.items.select_related("image", "superseded_by").order_by("id")[:2000]
    return render(request, "curation/batch_detail.html",
                  {"batch": batch, "items": items, "retryable": staging.retryable(batch).count()})


@curator_required
def batch_status(request, pk):
    batch = get_visible_or_404(IntakeBatch.objects.all(), request.user, pk=pk)
    since = int_param(request, "since", 0, minimum=0)
    items = [
        {"id": i.pk, "name": i.name, "outcome": i.outcome, "label": i.get_outcome_display(), "reason": i.reason,
         "instance": i.image.sop_instance_uid if i.image_id else ""}
        for i in batch.items.filter(pk__gt=since).select_related("image")[:500]
    ]
    return JsonResponse(
        {
            "state": batch.state,
            "closed": batch.closed,
            "total": batch.total,
            "processed": batch.processed,
            "accepted": batch.accepted,
            "unchanged": batch.unchanged,
            "conflicts": batch.conflicts,
            "rejected": batch.rejected,
            "failed": batch.failed,
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
