"""The archive: collections, their versions and wiki pages, stored files and the imaging index.

The index (Subject → Study → Series → Image) holds the DICOM attributes that the NBIA API and
the metadata digest expose, so those answers never open a DICOM file. Series carry their image
count and byte total so catalogue and API aggregates stay cheap at tens of millions of images.
"""
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from tcia.core import roles


class License(models.TextChoices):
    CC_BY_3 = "CC-BY-3.0", "Creative Commons Attribution 3.0 Unported (CC BY 3.0)"
    CC_BY_NC_3 = "CC-BY-NC-3.0", "Creative Commons Attribution-NonCommercial 3.0 Unported (CC BY-NC 3.0)"
    CC_BY_4 = "CC-BY-4.0", "Creative Commons Attribution 4.0 International (CC BY 4.0)"
    CC_BY_NC_4 = "CC-BY-NC-4.0", "Creative Commons Attribution-NonCommercial 4.0 International (CC BY-NC 4.0)"
    TCIA_RESTRICTED = "TCIA-RESTRICTED", "TCIA Restricted License (data use agreement required)"


LICENSE_URLS = {
    License.CC_BY_3: "https://creativecommons.org/licenses/by/3.0/",
    License.CC_BY_NC_3: "https://creativecommons.org/licenses/by-nc/3.0/",
    License.CC_BY_4: "https://creativecommons.org/licenses/by/4.0/",
    License.CC_BY_NC_4: "https://creativecommons.org/licenses/by-nc/4.0/",
    License.TCIA_RESTRICTED: "",
}

LICENSE_SHORT = {
    License.CC_BY_3: "CC BY 3.0",
    License.CC_BY_NC_3: "CC BY-NC 3.0",
    License.CC_BY_4: "CC BY 4.0",
    License.CC_BY_NC_4: "CC BY-NC 4.0",
    License.TCIA_RESTRICTED: "TCIA Restricted",
}


class Access(models.TextChoices):
    PUBLIC = "public", "Public"
    LIMITED = "limited", "Limited (login and data use agreement)"


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_CURATION = "in_curation", "In curation"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


PUBLIC_STATUSES = (Status.PUBLISHED, Status.RETIRED)


class Modality(models.Model):
    code = models.CharField(max_length=16, unique=True, help_text="DICOM Modality code, e.g. CT, MR, RTSTRUCT.")
    name = models.CharField(max_length=100, help_text="Readable name, e.g. Computed Tomography.")

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "modalities"

    def __str__(self):
        return self.code


class AnatomicSite(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text="Anatomic site, e.g. Lung, Head-Neck.")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


slug_validator = RegexValidator(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", "Use lower-case letters, digits and single hyphens.")


class CollectionQuerySet(models.QuerySet):
    def public(self):
        return self.filter(status__in=PUBLIC_STATUSES)

    def visible_to(self, user):
        """Published and retired collections are public; drafts and curation work are for staff."""
        if roles.is_curator(user):
            return self.all()
        return self.public()


def new_uid_namespace() -> str:
    return secrets.token_hex(16)


class Collection(models.Model):
    slug = models.SlugField(max_length=80, unique=True, validators=[slug_validator], help_text="URL name.")
    title = models.CharField(max_length=200, unique=True, help_text="Full name, e.g. 'RIDER Lung CT'.")
    short_name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$", "Letters, digits, spaces, '.', '-' and '_' only.")],
        help_text="The Collection value in the NBIA API, e.g. 'RIDER Lung CT'.",
    )
    subject_prefix = models.CharField(
        max_length=40,
        unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", "Letters, digits, '-' and '_' only.")],
        help_text="Prefix of de-identified subject IDs, e.g. 'RIDER-Lung-CT' gives RIDER-Lung-CT-0001.",
    )
    cancer_type = models.CharField(max_length=100, blank=True, help_text="e.g. Lung Cancer, Glioblastoma.")
    anatomic_sites = models.ManyToManyField(AnatomicSite, blank=True, related_name="collections")
    modalities = models.ManyToManyField(
        Modality, blank=True, related_name="collections",
        help_text="Modalities of the latest released version (set at publish); for a collection not hosted here, "
        "the modalities it is described as holding.",
    )
    summary = models.TextField(blank=True, help_text="One or two sentences for the catalogue.")
    description = models.TextField(blank=True, help_text="Detailed description as provided by the submitter.")
    license = models.CharField(max_length=20, choices=License.choices, default=License.CC_BY_3)
    access = models.CharField(max_length=10, choices=Access.choices, default=Access.PUBLIC)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    species = models.CharField(max_length=60, default="Human", help_text="Human, or Phantom for phantom studies.")
    declared_size_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Size reported for the whole collection (e.g. from its data descriptor)."
    )
    declared_subjects = models.PositiveIntegerField(null=True, blank=True, help_text="Subjects reported for the collection.")
    citation_note = models.TextField(blank=True, help_text="Extra attribution the submitters ask for.")
    data_use_agreement = models.TextField(
        blank=True, help_text="Terms a user must accept before downloading a limited-access collection."
    )
    uid_namespace = models.CharField(
        max_length=64,
        blank=True,
        default=new_uid_namespace,
        editable=False,
        help_text="Keys this collection's UID remapping together with TCIA_DEID_SECRET, so the same original "
        "UID gets another new UID in every collection (docs/deid.md). Empty only for collections that "
        "received files before namespacing existed: they keep the archive-wide mapping.",
    )
    # Figures computed from the index by services.stats.refresh_collection_stats; never edited by hand.
    subject_count = models.PositiveIntegerField(default=0, editable=False)
    study_count = models.PositiveIntegerField(default=0, editable=False)
    series_count = models.PositiveIntegerField(default=0, editable=False)
    image_count = models.PositiveBigIntegerField(default=0, editable=False)
    total_bytes = models.PositiveBigIntegerField(default=0, editable=False)
    # The public side (catalogue, collection page, REST and NBIA API) shows what this version
    # holds, never the live index: set by services.publish when a version is released or withdrawn.
    latest_version = models.ForeignKey(
        "CollectionVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False,
        help_text="The latest released, not withdrawn, version (its stored facts are the public figures).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text="Also moved by every publication or withdrawal.")

    objects = CollectionQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=Status.values), name="collection_status_valid"),
            models.CheckConstraint(condition=Q(access__in=Access.values), name="collection_access_valid"),
            models.CheckConstraint(condition=Q(license__in=License.values), name="collection_license_valid"),
            models.CheckConstraint(
                condition=Q(declared_size_bytes__isnull=True) | Q(declared_size_bytes__gte=0),
                name="collection_declared_size_nonnegative",
            ),
        ]

    def __str__(self):
        return self.title

    def clean(self):
        if self.license == License.TCIA_RESTRICTED and self.access != Access.LIMITED:
            raise ValidationError({"access": "A restricted license requires limited access."})

    @property
    def is_public(self):
        return self.status in PUBLIC_STATUSES

    @property
    def license_url(self):
        return LICENSE_URLS.get(self.license, "")

    @property
    def license_short(self):
        return LICENSE_SHORT.get(self.license, self.license)

    @property
    def hosted(self) -> bool:
        """Whether a released version of this collection is hosted here (else only its description is)."""
        return self.latest_version_id is not None

    @property
    def size_bytes(self):
        """What the public side shows: the latest released version's size, else the declared size."""
        if self.latest_version_id is not None:
            return self.latest_version.total_bytes
        return self.declared_size_bytes or 0

    @property
    def subjects(self):
        if self.latest_version_id is not None:
            return self.latest_version.subject_count
        return self.declared_subjects or 0

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("collection_detail", args=[self.slug])


class StoredFileQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValidationError("Stored files are immutable.")


class StoredFile(models.Model):
    """An immutable file in the archive storage, named by the sha256 of its bytes.

    A correction makes a new StoredFile; nothing rewrites one. Versions refer to these by hash,
    so every published version stays downloadable byte for byte.
    """

    sha256 = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^[0-9a-f]{64}$", "A lower-case hex sha256 digest.")],
        help_text="Content address: sha256 of the bytes.",
    )
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    crc32 = models.PositiveBigIntegerField(help_text="CRC-32 of the bytes, kept so zip streaming never recomputes it.")
    md5 = models.CharField(max_length=32, blank=True, help_text="MD5 hex, for NBIA md5hashes.csv.")
    storage_name = models.CharField(max_length=200, help_text="Name in the 'archive' storage.")
    content_type = models.CharField(max_length=100, default="application/dicom")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StoredFileQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(crc32__lte=0xFFFFFFFF), name="storedfile_crc32_range"),
        ]

    def __str__(self):
        return self.sha256[:12]

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise ValidationError("Stored files are immutable; store new bytes instead.")
        super().save(*args, **kwargs)

    def open(self):
        from django.core.files.storage import storages

        return storages["archive"].open(self.storage_name, "rb")

    def path(self):
        """Local path when the storage is a folder (used by streaming downloads); None otherwise."""
        from django.core.files.storage import storages

        try:
            return storages["archive"].path(self.storage_name)
        except NotImplementedError:
            return None


class SubjectQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(collection__in=Collection.objects.visible_to(user))


class Subject(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="subjects_index")
    patient_id = models.CharField(max_length=64, help_text="De-identified subject ID, e.g. RIDER-Lung-CT-0001.")
    patient_sex = models.CharField(max_length=16, blank=True)
    ethnic_group = models.CharField(max_length=64, blank=True)
    species_code = models.CharField(max_length=64, blank=True)
    species_description = models.CharField(max_length=64, blank=True)
    phantom = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the subject first arrived.")

    objects = SubjectQuerySet.as_manager()

    class Meta:
        ordering = ["patient_id"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "patient_id"], name="subject_unique_in_collection")
        ]

    def __str__(self):
        return self.patient_id


class StudyQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(collection__in=Collection.objects.visible_to(user))


uid_validator = RegexValidator(r"^[0-9]+(\.[0-9]+)*$", "A DICOM UID: digits separated by dots.")


class Study(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="studies")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="studies")
    study_instance_uid = models.CharField(max_length=64, unique=True, validators=[uid_validator])
    study_date = models.DateField(null=True, blank=True)
    study_description = models.CharField(max_length=200, blank=True)
    study_id = models.CharField(max_length=16, blank=True)
    patient_age = models.CharField(max_length=8, blank=True)
    admitting_diagnoses_description = models.CharField(max_length=200, blank=True)
    longitudinal_temporal_event_type = models.CharField(max_length=32, blank=True)
    longitudinal_temporal_offset_from_event = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        ordering = ["study_date", "study_instance_uid"]
        verbose_name_plural = "studies"
        indexes = [models.Index(fields=["collection", "created_at"], name="study_coll_created_idx")]

    def __str__(self):
        return self.study_instance_uid


class SeriesQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(collection__in=Collection.objects.visible_to(user))


class Series(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="series")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="series")
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True, validators=[uid_validator])
    modality = models.CharField(max_length=16, blank=True)
    body_part_examined = models.CharField(max_length=64, blank=True)
    manufacturer = models.CharField(max_length=64, blank=True)
    manufacturer_model_name = models.CharField(max_length=64, blank=True)
    software_versions = models.CharField(max_length=128, blank=True)
    protocol_name = models.CharField(max_length=128, blank=True)
    series_date = models.DateField(null=True, blank=True)
    series_number = models.CharField(max_length=16, blank=True)
    series_description = models.CharField(max_length=200, blank=True)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    pixel_spacing_row = models.FloatField(null=True, blank=True)
    slice_thickness = models.FloatField(null=True, blank=True)
    annotations_flag = models.BooleanField(default=False)
    third_party_analysis = models.BooleanField(default=False)
    image_count = models.PositiveIntegerField(default=0, help_text="Images now in the series (kept by the indexer).")
    total_bytes = models.PositiveBigIntegerField(default=0, help_text="Sum of the images' file sizes.")
    released_image_count = models.PositiveIntegerField(
        default=0, help_text="Images of the series in the latest released version holding it (set at publish).")
    released_bytes = models.PositiveBigIntegerField(
        default=0, help_text="Bytes of the series in the latest released version holding it (set at publish).")
    max_submission_timestamp = models.DateTimeField(null=True, blank=True, help_text="When the last image arrived.")
    date_released = models.DateTimeField(null=True, blank=True, help_text="When the series was first published.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SeriesQuerySet.as_manager()

    class Meta:
        ordering = ["series_instance_uid"]
        verbose_name_plural = "series"
        indexes = [
            models.Index(fields=["collection", "modality"], name="series_coll_modality_idx"),
            models.Index(fields=["collection", "body_part_examined"], name="series_coll_bodypart_idx"),
            models.Index(fields=["collection", "manufacturer"], name="series_coll_manuf_idx"),
            models.Index(fields=["collection", "subject"], name="series_coll_subject_idx"),
            models.Index(fields=["date_released"], name="series_released_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(image_count__gte=0), name="series_image_count_nonnegative"),
        ]

    def __str__(self):
        return self.series_instance_uid


class ImageQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(series__collection__in=Collection.objects.visible_to(user))


class Image(models.Model):
    """One DICOM instance. `stored_file` points at its current bytes; corrections repoint it."""

    collection = models.ForeignKey(
        Collection, on_delete=models.PROTECT, related_name="images", editable=False,
        help_text="The series' collection, repeated so the database itself holds one row per SOP Instance UID per collection.",
    )
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="images")
    sop_instance_uid = models.CharField(max_length=64, db_index=True, validators=[uid_validator])
    sop_class_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    acquisition_number = models.IntegerField(null=True, blank=True)
    stored_file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="images")
    file_size = models.PositiveBigIntegerField(help_text="Bytes of the current stored file.")
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    photometric_interpretation = models.CharField(max_length=16, blank=True)
    image_position_patient = models.CharField(max_length=80, blank=True)
    slice_location = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["instance_number", "sop_instance_uid"]
        indexes = [models.Index(fields=["series", "instance_number"], name="image_series_instance_idx")]
        constraints = [
            # One image per instance per collection. A resend with other content is kept beside it
            # (curation.ConflictingFile) and flagged by the duplicate-SOP check, never indexed twice.
            models.UniqueConstraint(fields=["collection", "sop_instance_uid"], name="image_unique_in_collection"),
        ]

    def __str__(self):
        return self.sop_instance_uid


class CollectionVersionQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(collection__in=Collection.objects.visible_to(user))


class CollectionVersion(models.Model):
    """A frozen release: which stored file each image had. Never changed once published."""

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(help_text="1, 2, 3… per collection.")
    release_date = models.DateField()
    notes = models.TextField(blank=True, help_text="Release notes: what changed since the previous version.")
    manifest_sha256 = models.CharField(
        max_length=64, blank=True, help_text="Digest of the sorted manifest (sop uid, sha256) lines."
    )
    # Facts of the version, computed once when it is frozen (services.publish): the public pages
    # and APIs read these instead of counting the index.
    image_count = models.PositiveBigIntegerField(default=0)
    total_bytes = models.PositiveBigIntegerField(default=0)
    subject_count = models.PositiveIntegerField(default=0)
    study_count = models.PositiveIntegerField(default=0)
    series_count = models.PositiveIntegerField(default=0)
    modalities = models.JSONField(default=list, blank=True, help_text="Sorted Modality values of its series.")
    body_parts = models.JSONField(default=list, blank=True, help_text="Sorted BodyPartExamined values of its series.")
    doi_url = models.CharField(
        max_length=300, blank=True,
        help_text="The persistent URL to cite this version (https://doi.org/…), written by whoever registers its "
        "identifier; empty until one is registered.",
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CollectionVersionQuerySet.as_manager()

    class Meta:
        ordering = ["collection", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "number"], name="version_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="version_number_positive"),
        ]

    def __str__(self):
        return f"{self.collection.short_name} v{self.number}"


class VersionEntry(models.Model):
    """One line of a version's manifest: an image and the exact bytes it had, with the image
    attributes that name its file in downloads, frozen with it."""

    version = models.ForeignKey(CollectionVersion, on_delete=models.PROTECT, related_name="entries")
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="+")
    sop_instance_uid = models.CharField(max_length=64)
    stored_file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="+")
    sop_class_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    acquisition_number = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "sop_instance_uid"], name="version_entry_unique"),
        ]
        indexes = [models.Index(fields=["version", "series"], name="version_entry_series_idx")]


class VersionSeries(models.Model):
    """A series as it was described when a version was frozen. Downloads and the metadata digest
    of a version read these, so a later correction of the index never changes an old version's
    folder names or metadata."""

    version = models.ForeignKey(CollectionVersion, on_delete=models.PROTECT, related_name="series_snapshots")
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="+")
    collection_short_name = models.CharField(max_length=64)
    patient_id = models.CharField(max_length=64)
    study_instance_uid = models.CharField(max_length=64)
    study_date = models.DateField(null=True, blank=True)
    study_id = models.CharField(max_length=16, blank=True)
    study_description = models.CharField(max_length=200, blank=True)
    series_instance_uid = models.CharField(max_length=64)
    series_number = models.CharField(max_length=16, blank=True)
    series_description = models.CharField(max_length=200, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    body_part_examined = models.CharField(max_length=64, blank=True)
    manufacturer = models.CharField(max_length=64, blank=True)
    manufacturer_model_name = models.CharField(max_length=64, blank=True)
    software_versions = models.CharField(max_length=128, blank=True)
    third_party_analysis = models.BooleanField(default=False)
    image_count = models.PositiveIntegerField(default=0, help_text="Images of the series in this version.")
    total_bytes = models.PositiveBigIntegerField(default=0, help_text="Bytes of the series in this version.")

    SNAPSHOT_FIELDS = {
        "collection_short_name": "collection__short_name", "patient_id": "subject__patient_id",
        "study_instance_uid": "study__study_instance_uid", "study_date": "study__study_date", "study_id": "study__study_id",
        "study_description": "study__study_description", "series_instance_uid": "series_instance_uid",
        "series_number": "series_number", "series_description": "series_description", "modality": "modality",
        "body_part_examined": "body_part_examined", "manufacturer": "manufacturer",
        "manufacturer_model_name": "manufacturer_model_name", "software_versions": "software_versions",
        "third_party_analysis": "third_party_analysis",
    }

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "series"], name="version_series_unique")]


class WikiPageQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(collection__in=Collection.objects.visible_to(user))


class WikiPage(models.Model):
    """A wiki-style page of a collection. Its text lives in revisions; the newest is current."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="pages")
    slug = models.SlugField(max_length=80, validators=[slug_validator], help_text="'overview' is the collection's main page.")
    title = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0, help_text="Order in the page tabs.")
    current = models.ForeignKey(
        "WikiRevision", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    objects = WikiPageQuerySet.as_manager()

    class Meta:
        ordering = ["collection", "position", "title"]
        constraints = [models.UniqueConstraint(fields=["collection", "slug"], name="wikipage_unique_slug")]

    def __str__(self):
        return f"{self.collection.short_name}: {self.title}"


class WikiRevision(models.Model):
    """One saved state of a page. Append-only: edits and reverts add revisions."""

    page = models.ForeignKey(WikiPage, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown source.")
    html = models.TextField(editable=False, help_text="Sanitized HTML rendered from the body at save time.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    comment = models.CharField(max_length=300, blank=True, help_text="What changed and why.")
    reverted_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["page", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["page", "number"], name="wikirevision_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="wikirevision_number_positive"),
        ]

    def __str__(self):
        return f"{self.page} r{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Wiki revisions are append-only.")
        super().save(*args, **kwargs)


class DataUseAcceptance(models.Model):
    """A user's acceptance of a limited-access collection's data use agreement (its text digest)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_use_acceptances")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="acceptances")
    agreement_sha256 = models.CharField(max_length=64, help_text="sha256 of the agreement text that was accepted.")
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "collection", "agreement_sha256"], name="dua_acceptance_unique")
        ]
