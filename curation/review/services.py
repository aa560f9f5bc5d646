"""Review queue services: verdicts (append-only), accepting a series, claims (leases),
assignment, progress, and pixel masks for burned-in PHI (through the corrections primitive).

Every decision is audited in the transaction that records it."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from collections_app.models import Collection, Image, Series
from tcia.core.audit import log

from .models import SeriesReview, Verdict

LEASE = timedelta(minutes=15)


class ReviewError(Exception):
    """A request the curator can act on (the message says how)."""


class ClaimedByOther(ReviewError):
    def __init__(self, review: SeriesReview):
        self.review = review
        who = review.claimed_by.get_username() if review.claimed_by else "someone"
        super().__init__(f"Series is being reviewed by {who} until {review.lease_expires_at:%H:%M}.")


class AssignedToOther(ReviewError):
    pass


class StaleCount(ReviewError):
    pass


# --- series rows and progress -------------------------------------------------------------------

def review_for(series: Series) -> SeriesReview:
    review, _ = SeriesReview.objects.get_or_create(series=series, defaults={"collection_id": series.collection_id})
    return review


def ensure_reviews(collection: Collection) -> None:
    """A review row for every series of the collection (series from before this app existed)."""
    have = set(SeriesReview.objects.filter(collection=collection).values_list("series_id", flat=True))
    missing = [SeriesReview(series_id=pk, collection=collection)
               for pk in Series.objects.filter(collection=collection).values_list("pk", flat=True) if pk not in have]
    if missing:
        SeriesReview.objects.bulk_create(missing, ignore_conflicts=True)


def refresh_counts(series_id: int) -> None:
    counts = Verdict.objects.filter(series_id=series_id, current=True).aggregate(
        reviewed=Count("id"), flagged=Count("id", filter=~Q(verdict=Verdict.Kind.OK)))
    SeriesReview.objects.filter(series_id=series_id).update(
        reviewed=counts["reviewed"], flagged=counts["flagged"], updated_at=timezone.now())


@dataclass(frozen=True)
class Progress:
    reviewed: int
    total: int

    @property
    def done(self) -> bool:
        return self.total > 0 and self.reviewed >= self.total

    @property
    def percent(self) -> int:
        return int(100 * self.reviewed / self.total) if self.total else 0

    def __str__(self):
        return f"{self.reviewed} / {self.total}"


def series_progress(series: Series) -> Progress:
    reviewed = Verdict.objects.filter(series=series, current=True, image__series=series).count()
    return Progress(reviewed, series.images.count())


def collection_progress(collection: Collection) -> Progress:
    agg = SeriesReview.objects.filter(collection=collection).aggregate(r=Sum("reviewed"))
    total = Series.objects.filter(collection=collection).aggregate(n=Sum("image_count"))["n"] or 0
    return Progress(agg["r"] or 0, total)


# --- verdicts -----------------------------------------------------------------------------------

def _lease_ok(review: SeriesReview, user) -> None:
    now = timezone.now()
    if review.claimed_by_id and review.claimed_by_id != user.pk and review.lease_expires_at and review.lease_expires_at > now:
        raise ClaimedByOther(review)
    if review.assigned_to_id and review.assigned_to_id != user.pk:
        raise AssignedToOther(f"Series is assigned to {review.assigned_to.get_username()}.")


def record_verdict(*, image: Image, verdict: str, actor, note: str = "", masked_by=None) -> Verdict:
    """Record a verdict; an earlier current verdict on the image is superseded (kept, flag cleared)."""
    if verdict not in Verdict.Kind.values:
        raise ReviewError(f"Unknown verdict {verdict!r}.")
    note = (note or "").strip()
    if verdict == Verdict.Kind.OTHER and not note:
        raise ReviewError("A verdict of 'other' needs a note saying what is wrong.")
    series = image.series
    with transaction.atomic():
        review = review_for(series)
        _lease_ok(review, actor)
        previous = (Verdict.objects.select_for_update().filter(image=image, current=True).first())
        if previous is not None:
            Verdict.objects.filter(pk=previous.pk).update(current=False)
        row = Verdict.objects.create(
            image=image, series=series, collection_id=series.collection_id, stored_file_id=image.stored_file_id,
            verdict=verdict, note=note, masked_by=masked_by, supersedes=previous,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
        )
        log("review.verdict", actor=actor, obj=row, reason=note, verdict=verdict, image=image.sop_instance_uid,
            series=series.series_instance_uid, sha256=image.stored_file.sha256,
            supersedes=(previous.pk if previous else None), previous_verdict=(previous.verdict if previous else None),
            masked_by=(masked_by.pk if masked_by else None))
        refresh_counts(series.pk)
        _extend(review, actor)
    return row


def unreviewed_images(series: Series):
    return series.images.exclude(review_verdicts__current=True)


def accept_series(*, series: Series, actor, expected: int) -> int:
    """Mark every image of the series without a verdict OK. `expected` is the count the curator
    confirmed; if images arrived or were reviewed meanwhile, nothing is recorded."""
    with transaction.atomic():
        review = review_for(series)
        _lease_ok(review, actor)
        images = list(unreviewed_images(series).select_related("stored_file").select_for_update(of=("self",))
                      if connection.features.has_select_for_update_of else unreviewed_images(series).select_related("stored_file"))
        if len(images) != expected:
            raise StaleCount(f"{len(images)} images are unreviewed now, not {expected}; check the grid and confirm again.")
        if not images:
            return 0
        user = actor if getattr(actor, "is_authenticated", False) else None
        Verdict.objects.bulk_create([
            Verdict(image=im, series=series, collection_id=series.collection_id, stored_file_id=im.stored_file_id,
                    verdict=Verdict.Kind.OK, actor=user)
            for im in images
        ])
        log("review.accept_series", actor=actor, obj=series, count=len(images),
            series=series.series_instance_uid, images=[im.sop_instance_uid for im in images[:2000]])
        refresh_counts(series.pk)
        _extend(review, actor)
    return len(images)


def history(image: Image):
    return Verdict.objects.filter(image=image).select_related("actor", "masked_by").order_by("-created_at", "-id")


# --- claims and assignment ------------------------------------------------------------------------

def _free(user, now):
    return Q(claimed_by__isnull=True) | Q(lease_expires_at__lt=now) | Q(claimed_by=user)


def _extend(review: SeriesReview, user) -> None:
    """Holding a series is renewed by working on it."""
    SeriesReview.objects.filter(pk=review.pk, claimed_by=user).update(lease_expires_at=timezone.now() + LEASE)


def claim(*, series: Series, user, lease: timedelta = LEASE) -> SeriesReview:
    """Take (or renew) the lease on one series. A conditional UPDATE makes this exclusive on every
    database: the row changes only while it is free, expired or already ours."""
    review = review_for(series)
    now = timezone.now()
    won = (SeriesReview.objects.filter(pk=review.pk).filter(_free(user, now))
           .filter(Q(assigned_to__isnull=True) | Q(assigned_to=user))
           .update(claimed_by=user, lease_expires_at=now + lease))
    review.refresh_from_db()
    if not won:
        if review.assigned_to_id and review.assigned_to_id != user.pk:
            raise AssignedToOther(f"Series is assigned to {review.assigned_to.get_username()}.")
        raise ClaimedByOther(review)
    return review


def queue(collection: Collection | None = None):
    """Series in review order: assigned and likely-text series first, then by subject."""
    qs = SeriesReview.objects.select_related("series", "series__subject", "claimed_by", "assigned_to", "collection")
    if collection is not None:
        qs = qs.filter(collection=collection)
    return qs.order_by("-text_images", "-likely_text", "series__subject__patient_id", "series__series_number", "series_id")


def claim_next(*, user, collection: Collection | None = None, lease: timedelta = LEASE) -> SeriesReview | None:
    """The next series this curator should review, claimed. Never one another curator holds.

    On PostgreSQL candidates are read with SELECT … FOR UPDATE SKIP LOCKED, so two curators
    asking at once walk past each other's rows instead of waiting; the conditional UPDATE in
    `claim` is what guarantees exclusivity (and the only guard on SQLite, whose writes are
    serialised anyway)."""
    if collection is not None:
        ensure_reviews(collection)
    now = timezone.now()
    # a series the curator already holds comes first
    mine = queue(collection).filter(claimed_by=user, lease_expires_at__gte=now, reviewed__lt=F("series__image_count")).first()
    if mine is not None:
        _extend(mine, user)
        mine.refresh_from_db()
        return mine
    base = (queue(collection).filter(_free(user, now))
            .filter(Q(assigned_to__isnull=True) | Q(assigned_to=user))
            .filter(reviewed__lt=F("series__image_count")))
    base = base.order_by(
        # series assigned to this curator before unassigned ones
        F("assigned_to").desc(nulls_last=True), "-text_images", "-likely_text", "series__subject__patient_id",
        "series__series_number", "series_id")
    skip_locked = connection.features.has_select_for_update_skip_locked
    for _ in range(50):
        # SQLite: no transaction around read-then-write (a deferred transaction that upgrades its
        # read lock fails at once with "database is locked"); the UPDATE alone is atomic.
        with transaction.atomic() if skip_locked else nullcontext():
            candidates = base.select_for_update(skip_locked=True, of=("self",)) if skip_locked else base
            pick = candidates.first()
            if pick is None:
                return None
            won = (SeriesReview.objects.filter(pk=pick.pk).filter(_free(user, timezone.now()))
                   .filter(Q(assigned_to__isnull=True) | Q(assigned_to=user))
                   .update(claimed_by=user, lease_expires_at=timezone.now() + lease))
        if won:
            pick.refresh_from_db()
            log("review.claim", actor=user, obj=pick.series, series=pick.series.series_instance_uid)
            return pick
    return None


def release(*, series: Series, user) -> None:
    SeriesReview.objects.filter(series=series, claimed_by=user).update(claimed_by=None, lease_expires_at=None)


def assign(*, series: Series, assignee, actor) -> SeriesReview:
    with transaction.atomic():
        review = review_for(series)
        before = review.assigned_to.get_username() if review.assigned_to else None
        SeriesReview.objects.filter(pk=review.pk).update(assigned_to=assignee)
        if assignee is not None and review.claimed_by_id and review.claimed_by_id != assignee.pk:
            SeriesReview.objects.filter(pk=review.pk).update(claimed_by=None, lease_expires_at=None)
        log("review.assign", actor=actor, obj=series, assigned_to=assignee.get_username() if assignee else None,
            previously=before)
        review.refresh_from_db()
    return review


# --- pixel masks for burned-in PHI ----------------------------------------------------------------

SCOPES = {"image": "This image", "series": "Every image of the series",
          "device": "Every image in the collection with the same device signature (manufacturer, model, size)"}


def clean_rects(rects, image: Image) -> list[tuple[int, int, int, int]]:
    """Rectangles as ints, clipped to the image; empty ones dropped."""
    out = []
    rows, cols = image.rows or 0, image.columns or 0
    for r in rects or []:
        try:
            values = (r[0], r[1], r[2], r[3]) if isinstance(r, (list, tuple)) else (r["x"], r["y"], r["w"], r["h"])
            x, y, w, h = (int(round(float(v))) for v in values)
        except (KeyError, TypeError, ValueError, IndexError):
            raise ReviewError(f"Not a rectangle: {r!r}")
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = x + w, y + h
        if cols:
            x1 = min(cols, x1)
        if rows:
            y1 = min(rows, y1)
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1 - x0, y1 - y0))
    if not out:
        raise ReviewError("Draw at least one rectangle on the image.")
    return out


def rects_text(rects) -> str:
    return ";".join(",".join(str(v) for v in r) for r in rects)


def scope_images(image: Image, scope: str):
    series = image.series
    if scope == "image":
        return Image.objects.filter(pk=image.pk)
    if scope == "series":
        return series.images.all()
    if scope == "device":
        return Image.objects.filter(
            series__collection_id=series.collection_id, series__manufacturer=series.manufacturer,
            series__manufacturer_model_name=series.manufacturer_model_name, rows=image.rows, columns=image.columns)
    raise ReviewError(f"Unknown scope {scope!r}.")


def mask_preview(*, image: Image, rects, frame: int = 0, window: str = "default") -> bytes:
    """The image as it will look once masked (nothing is written)."""
    from curation.deid.pixels import apply_masks
    from curation.dicom import render

    from . import derived

    rects = clean_rects(rects, image)
    ds = derived.read_dataset(image.stored_file)
    apply_masks(ds, rects)
    data, _ = render.preview_jpeg(ds, frame=frame, window=window)
    return data


def apply_mask(*, image: Image, rects, scope: str, actor, reason: str, save_rule: bool = False,
               rule_name: str = ""):
    """Blank `rects` in the image, its series or every image with its device signature, as one
    pixel-mask correction (new files, audited, undoable), then record the PHI verdict on the
    image with the correction. Optionally keep the mask as a PixelMaskRule for future intake."""
    from curation.deid.pixels import apply_masks
    from curation.models import PixelMaskRule
    from curation.services.corrections import Change, apply_correction

    rects = clean_rects(rects, image)
    if scope not in SCOPES:
        raise ReviewError(f"Unknown scope {scope!r}.")
    reason = (reason or "").strip() or "Burned-in PHI found in visual review"
    series = image.series
    _lease_ok(review_for(series), actor)
    text = rects_text(rects)

    def mutate(ds, _image):
        n = apply_masks(ds, rects)
        return [Change("(7FE0,0010)", "", f"masked {n} rectangle(s): {text}")] if n else []

    targets = list(scope_images(image, scope).select_related("stored_file", "series").order_by("pk"))
    correction = apply_correction(
        collection=series.collection, images=targets, mutate=mutate, actor=actor, reason=reason,
        kind="pixel_mask", summary=f"Pixel mask {text} on {len(targets)} image(s) ({scope})",
        scope=scope, spec={"rects": [list(r) for r in rects], "scope": scope, "image": image.pk,
                           "manufacturer": series.manufacturer, "model": series.manufacturer_model_name,
                           "rows": image.rows, "columns": image.columns},
    )
    if save_rule:
        rule = PixelMaskRule.objects.create(
            name=(rule_name or f"{series.manufacturer} {series.manufacturer_model_name} {image.columns}x{image.rows}").strip()[:120],
            manufacturer=series.manufacturer, model=series.manufacturer_model_name, rows=image.rows,
            columns=image.columns, rects=text, created_by=actor if getattr(actor, "is_authenticated", False) else None)
        log("review.mask_rule", actor=actor, obj=rule, reason=reason, rects=text, correction=correction.pk)
    image.refresh_from_db()
    verdict = record_verdict(image=image, verdict=Verdict.Kind.PHI, actor=actor, note=reason, masked_by=correction)
    return correction, verdict
