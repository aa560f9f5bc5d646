"""DOI records, the people credited in them, and the datasets that get DOIs besides collections.

A collection has one *concept* DOI (all versions) and each *major* version gets its own
*version* DOI (see docs/doi.md for why). Analysis results (DerivedDataset) and researcher
subsets (Subset) get their own DOIs. The DataCite metadata sent for a DOI is rebuilt from
these rows every time (doi.metadata) and the last copy sent is kept in `DOI.metadata`.
"""
from django.conf import settings
from django.db import models
from django.db.models import Q

from collections_app.models import Collection, CollectionVersion, License, Series, StoredFile


class NameType(models.TextChoices):
    PERSONAL = "Personal", "Personal"
    ORGANIZATIONAL = "Organizational", "Organizational"


class Person(models.Model):
    """A person or organization credited in a collection's DataCite record."""

    position = models.PositiveIntegerField(default=0)
    name_type = models.CharField(max_length=16, choices=NameType.choices, default=NameType.PERSONAL)
    given_name = models.CharField(max_length=100, blank=True)
    family_name = models.CharField(max_length=100, blank=True, help_text="Or the organization's name.")
    orcid = models.CharField(max_length=19, blank=True, help_text="0000-0002-1825-0097")
    affiliation = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True
        ordering = ["collection", "position", "id"]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self):
        if self.name_type == NameType.ORGANIZATIONAL or not self.given_name:
            return self.family_name
        return f"{self.family_name}, {self.given_name}"

    def as_dict(self) -> dict:
        return {
            "name_type": self.name_type, "given": self.given_name, "family": self.family_name,
            "orcid": self.orcid, "affiliation": self.affiliation,
        }


class CollectionCreator(Person):
    """A DataCite Creator of a collection (the submitting team), in citation order."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="doi_creators")

    class Meta(Person.Meta):
        pass


class ContributorType(models.TextChoices):
    # DataCite 4.5 contributorType (appendix 1), the values a curator would use here.
    CONTACT_PERSON = "ContactPerson", "Contact person"
    DATA_COLLECTOR = "DataCollector", "Data collector"
    DATA_CURATOR = "DataCurator", "Data curator"
    DATA_MANAGER = "DataManager", "Data manager"
    HOSTING_INSTITUTION = "HostingInstitution", "Hosting institution"
    PROJECT_LEADER = "ProjectLeader", "Project leader"
    PROJECT_MEMBER = "ProjectMember", "Project member"
    RESEARCHER = "Researcher", "Researcher"
    RESEARCH_GROUP = "ResearchGroup", "Research group"
    RIGHTS_HOLDER = "RightsHolder", "Rights holder"
    SPONSOR = "Sponsor", "Sponsor"
    SUPERVISOR = "Supervisor", "Supervisor"
    OTHER = "Other", "Other"


class CollectionContributor(Person):
    """A DataCite Contributor of a collection (curators, data collectors, sponsors…)."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="doi_contributors")
    contributor_type = models.CharField(max_length=24, choices=ContributorType.choices, default=ContributorType.RESEARCHER)

    class Meta(Person.Meta):
        constraints = [models.CheckConstraint(condition=Q(contributor_type__in=ContributorType.values),
                                              name="contributor_type_valid")]

    def as_dict(self) -> dict:
        return {**super().as_dict(), "contributor_type": self.contributor_type}


class PublicationInfo(models.Model):
    """The rest of a collection's publication metadata: keywords and funding. `revision` moves
    with every change of the publication metadata (doi.services.apply_publication_metadata)."""

    collection = models.OneToOneField(Collection, on_delete=models.CASCADE, related_name="publication_info")
    keywords = models.JSONField(default=list, blank=True, help_text="Free keywords (DataCite subjects).")
    funding = models.JSONField(
        default=list, blank=True,
        help_text="[{funder_name, funder_identifier, award_number, award_title}] (DataCite fundingReferences).",
    )
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class RelatedPublication(models.Model):
    """A paper about, using or describing a collection (shown on the landing page, sent to DataCite)."""

    class Relation(models.TextChoices):
        IS_DESCRIBED_BY = "IsDescribedBy", "Data descriptor / describing paper"
        IS_CITED_BY = "IsCitedBy", "Paper citing the data"
        IS_SUPPLEMENT_TO = "IsSupplementTo", "Data supplement to a paper"
        IS_REFERENCED_BY = "IsReferencedBy", "Referenced by"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="related_publications")
    relation = models.CharField(max_length=20, choices=Relation.choices, default=Relation.IS_CITED_BY)
    citation = models.TextField(help_text="Formatted reference as shown to readers.")
    doi = models.CharField(max_length=200, blank=True, help_text="DOI of the publication, without https://doi.org/")
    pmid = models.CharField(max_length=12, blank=True, help_text="PubMed ID, digits only.")
    url = models.URLField(blank=True)

    class Meta:
        ordering = ["collection", "id"]

    def __str__(self):
        return self.citation[:80]


class DatasetStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    REQUESTED = "requested", "Requested"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class DerivedDataset(models.Model):
    """Analysis results (segmentations, radiomics tables, …) derived from collections."""

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    description = models.TextField(blank=True)
    result_type = models.CharField(max_length=100, default="Analysis Results", help_text="e.g. 'Analysis Results – segmentations'.")
    creators = models.JSONField(default=list, blank=True, help_text="[{given, family, orcid, affiliation, name_type}]")
    license = models.CharField(max_length=20, choices=License.choices, default=License.CC_BY_4)
    sources = models.ManyToManyField(Collection, related_name="derived_datasets", help_text="Collections it is derived from.")
    status = models.CharField(max_length=12, choices=DatasetStatus.choices, default=DatasetStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["title"]
        constraints = [models.CheckConstraint(condition=Q(status__in=DatasetStatus.values), name="derived_status_valid")]

    def __str__(self):
        return self.title


class DerivedFile(models.Model):
    dataset = models.ForeignKey(DerivedDataset, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200, help_text="File name in downloads.")
    stored_file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["dataset", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="derivedfile_unique_name")]


class Subset(models.Model):
    """A researcher's selection of series across collections, frozen on approval with its own DOI.

    Each item pins the collection version its files come from, so the subset's manifest never
    changes even when the collections get new versions.
    """

    title = models.CharField(max_length=200)
    description = models.TextField(help_text="What was selected and why (shown on the landing page).")
    creators = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="doi_subsets")
    status = models.CharField(max_length=12, choices=DatasetStatus.choices, default=DatasetStatus.REQUESTED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    image_count = models.PositiveBigIntegerField(default=0)
    total_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(status__in=DatasetStatus.values), name="subset_status_valid")]

    def __str__(self):
        return self.title


class SubsetItem(models.Model):
    subset = models.ForeignKey(Subset, on_delete=models.CASCADE, related_name="items")
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(CollectionVersion, on_delete=models.PROTECT, related_name="+", help_text="Version frozen.")

    class Meta:
        ordering = ["subset", "id"]
        constraints = [models.UniqueConstraint(fields=["subset", "series"], name="subsetitem_unique_series")]


class DOI(models.Model):
    class Kind(models.TextChoices):
        CONCEPT = "concept", "Collection (all versions)"
        VERSION = "version", "Collection version"
        SUBSET = "subset", "Subset"
        DERIVED = "derived", "Analysis results"

    class State(models.TextChoices):
        # DataCite states: a draft can be deleted and does not resolve; registered resolves but is
        # not in search (used for withdrawn data); findable is public. Never back to draft.
        DRAFT = "draft", "Draft"
        REGISTERED = "registered", "Registered"
        FINDABLE = "findable", "Findable"

    doi = models.CharField(max_length=200, unique=True, help_text="Lower-case, e.g. 10.80000/tcia.2026.ab12cd34")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.DRAFT)
    provider = models.CharField(max_length=20, default="local")
    collection = models.ForeignKey(Collection, null=True, blank=True, on_delete=models.PROTECT, related_name="dois")
    version = models.OneToOneField(CollectionVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="doi_record")
    subset = models.OneToOneField(Subset, null=True, blank=True, on_delete=models.PROTECT, related_name="doi_record")
    derived = models.OneToOneField(DerivedDataset, null=True, blank=True, on_delete=models.PROTECT, related_name="doi_record")
    url = models.URLField(max_length=500, blank=True, help_text="Where the DOI resolves (landing page or tombstone).")
    metadata = models.JSONField(default=dict, blank=True, help_text="DataCite JSON last sent.")
    created_at = models.DateTimeField(auto_now_add=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_error = models.TextField(blank=True, help_text="Last provider error; empty when in sync.")

    class Meta:
        verbose_name = "DOI"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["concept", "version", "subset", "derived"]), name="doi_kind_valid"),
            models.CheckConstraint(condition=Q(state__in=["draft", "registered", "findable"]), name="doi_state_valid"),
            models.UniqueConstraint(fields=["collection"], condition=Q(kind="concept"), name="doi_one_concept_per_collection"),
        ]

    def __str__(self):
        return self.doi

    @property
    def https(self) -> str:
        return f"https://doi.org/{self.doi}"

    def get_absolute_url(self):
        return f"/doi/{self.doi}"
