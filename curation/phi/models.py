"""The PHI report: every unique (tag path, VR, value) of a collection, kept as files arrive.

Like Posda's posda_phi_simple (element_seen × value_seen), one row per unique value, with
precomputed file and series counts. It is maintained incrementally by an ingest hook:

* PhiPending   a received file's values until a batch of them is counted (report.flush);
* PhiFile      one row per stored file: the ids of the values it holds (packed int64), so a
               replaced file's contribution is subtracted exactly, without reading it again;
* PhiSeriesValue  (value, series) → number of files of that series holding it, so the series
                  count stays exact when files come and go;
* PhiFacet     number of present values per (VR, private, likely PHI, own UID): the page's
               totals without counting a million rows.
"""
from django.conf import settings
from django.db import models

from tcia.core.fields import DocumentJSONField
from django.db.models import Q

from collections_app.models import Collection, Image
from curation.models import Correction, StaffOnlyQuerySet

SHOWN = Q(present=True, own_uid=False)
VALUE_ROW = SHOWN  # what every count of the report counts (report.value_rows)


class PhiValue(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+", db_index=False)
    tag_path = models.CharField(max_length=400, help_text='Tag path with sequence items as [*], e.g. (0008,1115)[*](0020,000E).')
    vr = models.CharField(max_length=2)
    value = models.TextField(help_text="The value as text (multi-values joined by '\\'), cut at 1,024 characters.")
    value_hash = models.CharField(max_length=40, help_text="SHA-1 of tag path, VR and the whole value.")
    keyword = models.CharField(max_length=100, blank=True, help_text="Attribute name, or creator and element for private tags.")
    is_private = models.BooleanField(default=False)
    creator = models.CharField(max_length=64, blank=True)
    file_count = models.IntegerField(default=0)
    series_count = models.IntegerField(default=0)
    present = models.BooleanField(default=False, help_text="Held by at least one current file.")
    own_uid = models.BooleanField(default=False, help_text="A UID under our own root (hidden: we made it).")
    likely_phi = models.BooleanField(default=False)
    phi_kinds = models.CharField(max_length=60, blank=True, help_text="name, date, id, address, phone, email")
    example_image_id = models.BigIntegerField(null=True, blank=True)
    example_path = models.CharField(max_length=400, blank=True, help_text="Concrete path in the example file.")
    disposition = models.CharField(max_length=8, blank=True, help_text="Current mark (cache of the latest PhiMark).")
    disposition_arg = models.CharField(max_length=200, blank=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "value_hash"], name="phivalue_unique")]
        indexes = [
            models.Index(fields=["collection", "tag_path", "id"], name="phi_shown_idx", condition=SHOWN),
            models.Index(fields=["collection", "vr", "tag_path", "id"], name="phi_vr_idx", condition=SHOWN),
            models.Index(fields=["collection", "is_private", "tag_path", "id"], name="phi_private_idx", condition=SHOWN),
            models.Index(fields=["collection", "tag_path", "id"], name="phi_likely_idx", condition=SHOWN & Q(likely_phi=True)),
            models.Index(fields=["collection", "tag_path", "id"], name="phi_marked_idx", condition=~Q(disposition="")),
            models.Index(fields=["collection", "keyword", "tag_path", "id"], name="phi_keyword_idx", condition=SHOWN),
            # "show our own UIDs": the page's tag lookups over every present row
            models.Index(fields=["collection", "tag_path", "id"], name="phi_present_idx", condition=Q(present=True)),
        ]

    def __str__(self):
        return f"{self.tag_path} {self.vr} {self.value[:40]!r}"

    @property
    def example_image(self):
        return Image.objects.filter(pk=self.example_image_id).select_related("series").first()


class PhiFile(models.Model):
    """Which values one stored file contributed, and to which series (exact subtraction)."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+", db_index=False)
    stored_file_id = models.BigIntegerField()
    series_id = models.BigIntegerField()
    value_ids = models.BinaryField(help_text="Sorted value ids, packed little-endian int64.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "stored_file_id"], name="phifile_unique")]


class PhiPending(models.Model):
    """One received file's values, waiting to be counted (report.flush applies them in batches:
    one set of statements per few hundred files instead of per file). Written in the file's own
    transaction, so a file is never stored without its values; deleted as they are counted."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+", db_index=False)
    stored_file_id = models.BigIntegerField()
    series_id = models.BigIntegerField()
    image_id = models.BigIntegerField()
    rows = models.BinaryField(help_text="[tag path, VR, value text] rows, marshalled (report._pack_rows).")
    note = models.CharField(max_length=300, help_text="What changed, for the sign-off's invalidation notice.")

    class Meta:
        indexes = [models.Index(fields=["collection", "id"], name="phipending_idx")]


class PhiSeriesValue(models.Model):
    value = models.ForeignKey(PhiValue, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    series_id = models.BigIntegerField()
    files = models.IntegerField(default=0)

    class Meta:
        # (value, series): also the index of every lookup by value (which series hold it); one
        # index fewer for each row intake inserts
        constraints = [models.UniqueConstraint(fields=["value", "series_id"], name="phiseriesvalue_value_series")]


class PhiFacet(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+", db_index=False)
    vr = models.CharField(max_length=2)
    is_private = models.BooleanField()
    likely_phi = models.BooleanField()
    own_uid = models.BooleanField()
    values = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "vr", "is_private", "likely_phi", "own_uid"],
                                               name="phifacet_unique")]


class PhiReportState(models.Model):
    """Changes to a collection's report: a sign-off is valid while `generation` is unchanged."""

    collection = models.OneToOneField(Collection, on_delete=models.CASCADE, primary_key=True, related_name="+")
    generation = models.BigIntegerField(default=0)
    last_change = models.CharField(max_length=300, blank=True)
    last_change_at = models.DateTimeField(null=True, blank=True)
    first_change_after_signoff = models.CharField(max_length=300, blank=True)
    first_change_after_signoff_at = models.DateTimeField(null=True, blank=True)


class PhiMark(models.Model):
    """A curator's disposition of one value. Append-only: a new mark supersedes the last."""

    class Action(models.TextChoices):
        KEEP = "keep", "Keep"
        REMOVE = "remove", "Remove"
        REPLACE = "replace", "Replace with …"
        SHIFT = "shift", "Shift date by … days"
        HASH = "hash", "Hash"

    value = models.ForeignKey(PhiValue, on_delete=models.CASCADE, related_name="marks")
    action = models.CharField(max_length=8, choices=Action.choices)
    argument = models.CharField(max_length=200, blank=True, help_text="Replacement text, or days to shift.")
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    correction = models.ForeignKey(Correction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   help_text="The correction that applied this mark.")

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(action__in=["keep", "remove", "replace", "shift", "hash"]), name="phimark_action_valid"),
        ]


class PhiSignoff(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(auto_now_add=True)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the sorted value rows at signing.")
    rows = models.PositiveIntegerField(default=0)
    generation = models.BigIntegerField(help_text="PhiReportState.generation at signing.")
    statement = models.TextField(blank=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-signed_at", "-id"]


class PhiImport(models.Model):
    """A CSV of the report, edited offline and uploaded back (Posda's round trip): its rows are
    *proposed* dispositions until a curator applies them as marks (or discards them)."""

    class State(models.TextChoices):
        PROPOSED = "proposed", "Proposed (preview)"
        APPLIED = "applied", "Applied as marks"
        DISCARDED = "discarded", "Discarded"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PROPOSED)
    rows = models.PositiveIntegerField(default=0, help_text="Data rows read.")
    unchanged = models.PositiveIntegerField(default=0, help_text="Rows whose disposition is the value's current one.")
    blank = models.PositiveIntegerField(default=0, help_text="Rows with no disposition (no change).")
    errors = models.JSONField(default=list, blank=True, help_text="[{row, column, message}] of the rows not taken.")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(state__in=["proposed", "applied", "discarded"]),
                                              name="phiimport_state_valid")]


class PhiProposal(models.Model):
    """One proposed disposition of an import: the row it came from, what the value had then."""

    phi_import = models.ForeignKey(PhiImport, on_delete=models.CASCADE, related_name="proposals")
    value = models.ForeignKey(PhiValue, on_delete=models.CASCADE, related_name="+")
    row = models.PositiveIntegerField(help_text="Row of the CSV (the header is row 1).")
    action = models.CharField(max_length=8, choices=PhiMark.Action.choices)
    argument = models.CharField(max_length=200, blank=True)
    previous = models.CharField(max_length=8, blank=True, help_text="The value's disposition when the file was read.")
    previous_arg = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["row"]
        constraints = [models.UniqueConstraint(fields=["phi_import", "value"], name="phiproposal_unique_value")]


class DeidObservation(models.Model):
    """What intake saw and did for one image, for the de-identification self-score
    (curation.phi.selfscore): per-file check results, and what later corrections are judged by
    (keyed hashes of the original identifiers and UIDs, expected dates), never original values.
    One row per image, updated when a correction rewrites the file."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+", db_index=False)
    image_id = models.BigIntegerField()
    stored_file_id = models.BigIntegerField(help_text="The file these results are for.")
    subject_id = models.CharField(max_length=64, blank=True, help_text="Subject the engine mapped the file to.")
    checks = DocumentJSONField(default=dict, help_text="{check: [items, failed, [examples]]} of the per-file checks.")
    offsets = DocumentJSONField(default=dict, help_text="{days: dates} date shifts found in the file.")
    uid_pairs = DocumentJSONField(default=list, help_text="[[original UID hash, UID now]] per UID element.")
    refs = DocumentJSONField(default=list, help_text="[[kind, UID]] of references to instances and series.")
    carry = DocumentJSONField(default=dict, help_text="What a corrected file is judged by (hashes, expected dates).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "image_id"], name="deidobs_unique_image")]
