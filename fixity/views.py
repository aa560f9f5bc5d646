"""The staff fixity page: the audit's state, its run history, open failures with the collections
and versions they touch, and the two ways a curator resolves one (re-verify, restore)."""
from datetime import timedelta

from django.contrib import messages
from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from tcia.core.permissions import curator_required

from . import services
from .models import FixityFailure, FixityRecord, FixityRun

MAX_RESTORE_BYTES = 2 * 1024**3


@curator_required
def dashboard(request):
    cycle = services.cycle_days()
    fresh_since = timezone.now() - timedelta(days=cycle)
    totals = FixityRecord.objects.aggregate(
        files=Count("pk"), bytes=Sum("size"),
        fresh=Count("pk", filter=Q(last_verified_at__gte=fresh_since, status=FixityRecord.Status.OK)),
        never=Count("pk", filter=Q(last_verified_at__isnull=True)),
        blocked=Count("pk", filter=Q(blocked=True)),
    )
    open_failures = list(FixityFailure.objects.filter(resolved_at__isnull=True).select_related("record", "run")[:200])
    for f in open_failures:
        f.affected = services.affected(f.record)
    return render(request, "fixity/dashboard.html", {
        "totals": totals, "cycle_days": cycle, "rate": services.bytes_per_second(), "run_seconds": services.run_seconds(),
        "runs": FixityRun.objects.all()[:50], "open_failures": open_failures,
        "resolved": FixityFailure.objects.filter(resolved_at__isnull=False).select_related("record", "resolved_by")[:50],
    })


@curator_required
def failure(request, pk):
    f = get_object_or_404(FixityFailure.objects.select_related("record", "run", "resolved_by"), pk=pk)
    f.affected = services.affected(f.record)
    return render(request, "fixity/failure.html", {"f": f, "max_restore": MAX_RESTORE_BYTES})


@curator_required
@require_POST
def reverify(request, pk):
    f = get_object_or_404(FixityFailure.objects.select_related("record"), pk=pk)
    outcome = services.reverify(f.record, actor=request.user, note=request.POST.get("note", "")[:2000])
    if outcome.ok:
        messages.success(request, "The file hashes to its recorded sha256 again; its downloads are open.")
    else:
        messages.error(request, f"The file still fails ({dict(FixityFailure.Kind.choices)[outcome.kind]}); it stays blocked. "
                                "Restore it from a copy.")
    return redirect("fixity:failure", pk=f.pk)


@curator_required
@require_POST
def restore(request, pk):
    f = get_object_or_404(FixityFailure.objects.select_related("record"), pk=pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose the file's original bytes (a copy) to restore it.")
        return redirect("fixity:failure", pk=f.pk)
    if upload.size != f.record.size or upload.size > MAX_RESTORE_BYTES:
        messages.error(request, f"{upload.name}: {upload.size} bytes, but the stored file has {f.record.size}; nothing was written.")
        return redirect("fixity:failure", pk=f.pk)
    try:
        outcome = services.restore(f.record, upload.read(), actor=request.user, note=request.POST.get("note", "")[:2000])
    except services.RestoreError as exc:
        messages.error(request, f"{upload.name}: {exc}")
        return redirect("fixity:failure", pk=f.pk)
    if outcome.ok:
        messages.success(request, "Restored and re-verified; the file's downloads are open.")
    else:
        messages.error(request, "The bytes were written but the storage still does not give them back; the file stays blocked.")
    return redirect("fixity:failure", pk=f.pk)


@curator_required
@require_POST
def run_now(request):
    """Queue one run like the schedule's (a worker takes it; at once when tasks run synchronously)."""
    from django.db import transaction
    from django_q.tasks import async_task

    from tcia.core.audit import log

    log("fixity.run_requested", actor=request.user)
    transaction.on_commit(lambda: async_task("fixity.tasks.scheduled_run", "curator", task_name="fixity-run-now"))
    messages.success(request, "A fixity run was queued; it appears in the list when a worker has started it.")
    return redirect("fixity:dashboard")
