"""Researcher feedback: taking a report (rate-limited per client address, honeypot-checked by
the view), curators' answers (recorded; e-mailed to the reporter when asked), links to the
finding or correction a report led to, and errata. Each curator decision is an audit event."""
from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from tcia.core.audit import log

from .models import Erratum, ProblemReport, ReportReply


class FeedbackError(Exception):
    pass


def rate() -> tuple[int, int]:
    """(reports, seconds) from TCIA_FEEDBACK_RATE ("5/3600")."""
    count, _, window = str(getattr(settings, "TCIA_FEEDBACK_RATE", "5/3600")).partition("/")
    return int(count), int(window or 3600)


def allow(address: str) -> bool:
    """Count one report from `address`; False once it sent its allowance in the current window.
    A fixed window in the cache (shared by the web processes when the cache is)."""
    limit, window = rate()
    key = f"feedback-rate:{address}"
    cache.add(key, 0, window)
    try:
        n = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        n = 1
    return n <= limit


def submit(*, collection, category: str, message: str, version=None, series_uid: str = "", page: str = "",
           user=None, name: str = "", email: str = "") -> ProblemReport:
    from collections_app.models import Series

    series = None
    series_uid = series_uid.strip()
    if series_uid:
        series = Series.objects.filter(collection=collection, series_instance_uid=series_uid).first()
    if version is not None and version.collection_id != collection.pk:
        version = None
    with transaction.atomic():
        report = ProblemReport.objects.create(
            collection=collection, version=version, series=series, series_uid=series_uid[:64], category=category,
            message=message, page=page, reporter=user if getattr(user, "is_authenticated", False) else None,
            reporter_name=name.strip()[:200], reporter_email=email.strip())
        # The audit trail has no personal data of the reporter: the report is where that lives.
        log("feedback.report", obj=report, category=category, collection=collection.slug,
            version=version.number if version else None, series=series_uid[:64])
    return report


def reply(report: ProblemReport, *, actor, body: str, email_reporter: bool) -> ReportReply:
    body = body.strip()
    if not body:
        raise FeedbackError("Write the answer first.")
    to = report.answer_to if email_reporter else ""
    with transaction.atomic():
        answer = ReportReply.objects.create(report=report, author=actor, body=body, emailed_to_reporter=bool(to))
        if report.state == ProblemReport.State.OPEN:
            ProblemReport.objects.filter(pk=report.pk).update(state=ProblemReport.State.ANSWERED)
            report.state = ProblemReport.State.ANSWERED
        log("feedback.reply", actor=actor, obj=report, emailed=bool(to))
        if to:
            subject = f"Your report about {report.collection.title}"
            transaction.on_commit(lambda: send_mail(subject, f"{body}\n\n-- {settings.TCIA_SITE_NAME}", None, [to]))
    return answer


def link(report: ProblemReport, *, actor, finding=None, correction=None) -> None:
    if finding is not None and finding.collection_id != report.collection_id:
        raise FeedbackError("That finding belongs to another collection.")
    if correction is not None and correction.collection_id != report.collection_id:
        raise FeedbackError("That correction belongs to another collection.")
    with transaction.atomic():
        ProblemReport.objects.filter(pk=report.pk).update(finding=finding, correction=correction)
        report.finding, report.correction = finding, correction
        log("feedback.link", actor=actor, obj=report, finding=getattr(finding, "pk", None),
            correction=getattr(correction, "pk", None))


def set_state(report: ProblemReport, *, actor, state: str) -> None:
    if state not in ProblemReport.State.values:
        raise FeedbackError(f"Unknown state {state!r}.")
    with transaction.atomic():
        ProblemReport.objects.filter(pk=report.pk).update(state=state)
        report.state = state
        log("feedback.state", actor=actor, obj=report, state=state)


def _touch(collection_id: int) -> None:
    """Errata change what the collection and landing pages say: move their ETags and caches."""
    from doi.services import touch_collections

    touch_collections([collection_id])


def publish_erratum(*, collection, actor, text: str, version=None, report=None) -> Erratum:
    text = text.strip()
    if not text:
        raise FeedbackError("Write the erratum's text first.")
    if version is not None and version.collection_id != collection.pk:
        raise FeedbackError("That version belongs to another collection.")
    with transaction.atomic():
        erratum = Erratum.objects.create(collection=collection, version=version, report=report, text=text, published_by=actor)
        log("feedback.erratum", actor=actor, obj=erratum, collection=collection.slug,
            version=version.number if version else None, report=getattr(report, "pk", None))
        _touch(collection.pk)
    return erratum


def withdraw_erratum(erratum: Erratum, *, actor, reason: str = "") -> None:
    with transaction.atomic():
        Erratum.objects.filter(pk=erratum.pk).update(withdrawn_at=timezone.now())
        log("feedback.erratum_withdrawn", actor=actor, obj=erratum, reason=reason)
        _touch(erratum.collection_id)
