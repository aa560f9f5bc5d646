"""Review queue services: image classes (the review tasks), class and image verdicts
(append-only), accepting a series, leases taken by the curator, assignment, progress, and pixel masks for burned-in PHI (through the corrections primitive).

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

from .models import ClassVerdict, ImageClass, SeriesReview, Verdict

LEASE = timedelta(minutes=15)


class ReviewError(Exception):
    """A request the curator can act on (the message says how)."""


class ClaimedByOther(ReviewError):
    def __init__(self, image_class: ImageClass):
        self.image_class = image_class
        who = image_class.claimed_by.get_username() if image_class.claimed_by else "someone"
        super().__init__(f"This image class is being reviewed by {who} until {image_class.lease_expires_at:%H:%M} UTC.")


class AssignedToOther(ReviewError):
    pass


class StaleCount(ReviewError):
    pass


# --- series rows, classes and progress ------------------------------------------------------------

def review_for(series: Series) -> SeriesReview:
    review, _ = SeriesReview.objects.get_or_create(series=series, defaults={"collection_id": series.collection_id})
    return review


def ensure_reviews(collection: Collection) -> None:
    """A review row for every series of the collection and a class for every image (series and
    images from before this app, or before classes, existed: classes then come from the index)."""
    have = set(SeriesReview.objects.filter(collection=collection).values_list("series_id", flat=True))
    missing = [SeriesReview(series_id=pk, collection=collection)
               for pk in Series.objects.filter(collection=collection).values_list("pk", flat=True) if pk not in have]
    if missing:
        SeriesReview.objects.bulk_create(missing, ignore_conflicts=True)
    loose = (Image.objects.filter(series__collection=collection, review_class__isnull=True)
             .select_related("series").order_by("pk"))
    if loose.exists():
        from . import hooks

        with transaction.atomic():
            touched = hooks.assign_classes([(im, None) for im in loose.iterator(chunk_size=2000)])
        for series_id in {sid for sid, _ in touched}:
            refresh_counts(series_id)


def refresh_counts(series_id: int) -> None:
    """Reviewed and flagged counts of the series and of each of its classes."""
    counts = Verdict.objects.filter(series_id=series_id, current=True).aggregate(
        reviewed=Count("id"), flagged=Count("id", filter=~Q(verdict=Verdict.Kind.OK)))
    SeriesReview.objects.filter(series_id=series_id).update(
        reviewed=counts["reviewed"], flagged=counts["flagged"], updated_at=timezone.now())
    per_class = {row["image__review_class__image_class"]: row for row in (
        Verdict.objects.filter(series_id=series_id, current=True).values("image__review_class__image_class")
        .annotate(reviewed=Count("id"), flagged=Count("id", filter=~Q(verdict=Verdict.Kind.OK))))}
    for cls in ImageClass.objects.filter(series_id=series_id).only("pk", "reviewed", "flagged"):
        row = per_class.get(cls.pk, {"reviewed": 0, "flagged": 0})
        if (cls.reviewed, cls.flagged) != (row["reviewed"], row["flagged"]):
            ImageClass.objects.filter(pk=cls.pk).update(reviewed=row["reviewed"], flagged=row["flagged"])


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


def class_progress(collection: Collection) -> Progress:
    """Classes whose every image has a verdict, of the collection's classes with images."""
    classes = ImageClass.objects.filter(collection=collection, image_count__gt=0)
    return Progress(classes.filter(reviewed__gte=F("image_count")).count(), classes.count())


def class_images(image_class: ImageClass):
    return Image.objects.filter(review_class__image_class=image_class).order_by("instance_number", "pk")


# --- verdicts -----------------------------------------------------------------------------------

def _holder_ok(cls: ImageClass, user) -> None:
    now = timezone.now()
    if cls.claimed_by_id and cls.claimed_by_id != user.pk and cls.lease_expires_at and cls.lease_expires_at > now:
        raise ClaimedByOther(cls)
    if cls.assigned_to_id and cls.assigned_to_id != user.pk:
        raise AssignedToOther(f"Class is assigned to {cls.assigned_to.get_username()}.")


def _classes_of(images) -> list[ImageClass]:
    return list(ImageClass.objects.filter(members__image__in=images).distinct().select_related("claimed_by", "assigned_to"))


def _lease_ok_for(images, user) -> list[ImageClass]:
    """Refuse when another curator holds (or is assigned) a class of these images."""
    classes = _classes_of(images)
    for cls in classes:
        _holder_ok(cls, user)
    return classes


def _check_kind(verdict: str, note: str) -> str:
    if verdict not in Verdict.Kind.values:
        raise ReviewError(f"Unknown verdict {verdict!r}.")
    note = (note or "").strip()
    if verdict == Verdict.Kind.OTHER and not note:
        raise ReviewError("A verdict of 'other' needs a note saying what is wrong.")
    return note


def record_verdict(*, image: Image, verdict: str, actor, note: str = "", masked_by=None) -> Verdict:
    """Record a verdict on one image (a drill-down); an earlier current verdict on the image is
    superseded (kept, flag cleared)."""
    note = _check_kind(verdict, note)
    series = image.series
    with transaction.atomic():
        review_for(series)
        classes = _lease_ok_for([image.pk], actor)
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
        for cls in classes:
            _extend(cls, actor)
    return row


def record_class_verdict(*, image_class: ImageClass, verdict: str, actor, note: str = "") -> ClassVerdict:
    """A verdict on a whole class: kept (append-only, the earlier one superseded) and written as
    a verdict on each of its images, superseding theirs, in one transaction."""
    note = _check_kind(verdict, note)
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        cls = ImageClass.objects.select_related("claimed_by", "assigned_to", "series").get(pk=image_class.pk)
        _holder_ok(cls, actor)
        images = list(class_images(cls).select_related("stored_file"))
        if not images:
            raise ReviewError("The class has no images.")
        previous = ClassVerdict.objects.select_for_update().filter(image_class=cls, current=True).first()
        if previous is not None:
            ClassVerdict.objects.filter(pk=previous.pk).update(current=False)
        row = ClassVerdict.objects.create(
            image_class=cls, collection_id=cls.collection_id, verdict=verdict, note=note, images=len(images),
            montage_key=cls.montage_key, supersedes=previous, actor=user)
        ids = [im.pk for im in images]
        earlier = dict(Verdict.objects.filter(image_id__in=ids, current=True).values_list("image_id", "pk"))
        Verdict.objects.filter(pk__in=earlier.values()).update(current=False)
        Verdict.objects.bulk_create([
            Verdict(image=im, series_id=cls.series_id, collection_id=cls.collection_id, stored_file_id=im.stored_file_id,
                    verdict=verdict, note=note, supersedes_id=earlier.get(im.pk), class_verdict=row, actor=user)
            for im in images])
        log("review.class_verdict", actor=actor, obj=row, reason=note, verdict=verdict, image_class=cls.pk,
            series=cls.series.series_instance_uid, images=len(images), montage=cls.montage_key,
            superseded_images=len(earlier), supersedes=(previous.pk if previous else None),
            previous_verdict=(previous.verdict if previous else None))
        refresh_counts(cls.series_id)
        _extend(cls, actor)
    return row


def unreviewed_images(series: Series):
    return series.images.exclude(review_verdicts__current=True)


def accept_series(*, series: Series, actor, expected: int) -> int:
    """Mark every image of the series without a verdict Good. `expected` is the count the curator
    confirmed; if images arrived or were reviewed meanwhile, nothing is recorded."""
    with transaction.atomic():
        review_for(series)
        classes = _lease_ok_for(series.images.values("pk"), actor)
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
        for cls in classes:
            _extend(cls, actor)
    return len(images)


def history(image: Image):
    return Verdict.objects.filter(image=image).select_related("actor", "masked_by").order_by("-created_at", "-id")


# --- leases and assignment ------------------------------------------------------------------------
#
# A lease starts when the curator takes a class (a key or a click: a POST), never when a page
# opens; it is renewed by working on the class (a verdict) or by a page that already holds it.

def _free(user, now):
    return Q(claimed_by__isnull=True) | Q(lease_expires_at__lt=now) | Q(claimed_by=user)


def _extend(cls: ImageClass, user) -> None:
    """Holding a class is renewed by working on it (only by the curator who holds it)."""
    ImageClass.objects.filter(pk=cls.pk, claimed_by=user).update(lease_expires_at=timezone.now() + LEASE)


def renew(*, image_class: ImageClass, user) -> ImageClass | None:
    """Renew a lease the curator holds; None when they do not hold it (nothing is taken)."""
    now = timezone.now()
    won = (ImageClass.objects.filter(pk=image_class.pk, claimed_by=user, lease_expires_at__gte=now)
           .update(lease_expires_at=now + LEASE))
    return ImageClass.objects.get(pk=image_class.pk) if won else None


def claim(*, image_class: ImageClass, user, lease: timedelta = LEASE) -> ImageClass:
    """Take (or renew) the lease on one class. A conditional UPDATE makes this exclusive on every
    database: the row changes only while it is free, expired or already ours."""
    now = timezone.now()
    won = (ImageClass.objects.filter(pk=image_class.pk).filter(_free(user, now))
           .filter(Q(assigned_to__isnull=True) | Q(assigned_to=user))
           .update(claimed_by=user, lease_expires_at=now + lease))
    cls = ImageClass.objects.select_related("claimed_by", "assigned_to").get(pk=image_class.pk)
    if not won:
        if cls.assigned_to_id and cls.assigned_to_id != user.pk:
            raise AssignedToOther(f"Class is assigned to {cls.assigned_to.get_username()}.")
        raise ClaimedByOther(cls)
    log("review.take", actor=user, obj=cls, image_class=cls.pk, series=cls.series_id)
    return cls


QUEUE_ORDER = ("-text_images", "-likely_text", "-image_count", "series__subject__patient_id", "series__series_number",
               "series_id", "pk")


def queue(collection: Collection | None = None):
    """Classes in review order: those where OCR found text, then those likely to carry text
    (ultrasound, screen captures, BurnedInAnnotation YES), then by size, largest first."""
    qs = (ImageClass.objects.filter(image_count__gt=0)
          .select_related("series", "series__subject", "claimed_by", "assigned_to", "collection"))
    if collection is not None:
        qs = qs.filter(collection=collection)
    return qs.order_by(*QUEUE_ORDER)


def claim_next(*, user, collection: Collection | None = None, lease: timedelta = LEASE) -> ImageClass | None:
    """The next class this curator should review, taken. Never one another curator holds.

    On PostgreSQL candidates are read with SELECT … FOR UPDATE SKIP LOCKED, so two curators
    asking at once walk past each other's rows instead of waiting; the conditional UPDATE is what
    guarantees exclusivity (and the only guard on SQLite, whose writes are serialised anyway)."""
    if collection is not None:
        ensure_reviews(collection)
    now = timezone.now()
    todo = queue(collection).filter(reviewed__lt=F("image_count"))
    # a class the curator already holds comes first
    mine = todo.filter(claimed_by=user, lease_expires_at__gte=now).first()
    if mine is not None:
        _extend(mine, user)
        mine.refresh_from_db()
        return mine
    base = (todo.filter(_free(user, now)).filter(Q(assigned_to__isnull=True) | Q(assigned_to=user))
            .order_by(F("assigned_to").desc(nulls_last=True), *QUEUE_ORDER))  # assigned to this curator first
    skip_locked = connection.features.has_select_for_update_skip_locked
    for _ in range(50):
        # SQLite: no transaction around read-then-write (a deferred transaction that upgrades its
        # read lock fails at once with "database is locked"); the UPDATE alone is atomic.
        with transaction.atomic() if skip_locked else nullcontext():
            candidates = base.select_for_update(skip_locked=True, of=("self",)) if skip_locked else base
            pick = candidates.first()
            if pick is None:
                return None
            won = (ImageClass.objects.filter(pk=pick.pk).filter(_free(user, timezone.now()))
                   .filter(Q(assigned_to__isnull=True) | Q(assigned_to=user))
                   .update(claimed_by=user, lease_expires_at=timezone.now() + lease))
        if won:
            pick.refresh_from_db()
            log("review.take", actor=user, obj=pick, image_class=pick.pk, series=pick.series.series_instance_uid)
            return pick
    return None


def release(*, image_class: ImageClass, user) -> None:
    ImageClass.objects.filter(pk=image_class.pk, claimed_by=user).update(claimed_by=None, lease_expires_at=None)


def assign(*, image_class: ImageClass, assignee, actor) -> ImageClass:
    with transaction.atomic():
        cls = ImageClass.objects.select_related("assigned_to").get(pk=image_class.pk)
        before = cls.assigned_to.get_username() if cls.assigned_to else None
        ImageClass.objects.filter(pk=cls.pk).update(assigned_to=assignee)
        if assignee is not None and cls.claimed_by_id and cls.claimed_by_id != assignee.pk:
            ImageClass.objects.filter(pk=cls.pk).update(claimed_by=None, lease_expires_at=None)
        log("review.assign", actor=actor, obj=cls, assigned_to=assignee.get_username() if assignee else None,
            previously=before)
        cls.refresh_from_db()
    return cls


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
    _lease_ok_for([image.pk], actor)
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
