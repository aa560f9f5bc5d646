"""A small archive with one object of every kind, built through the services, for the
security tests: who may read what is checked against real public, limited and hidden data.

- public: Demo Chest CT, published, public access (version 1, DOIs, a subset, wiki page)
- limited: Demo Brain MR, published, limited access; the `agreed` user accepted its agreement
- hidden: Demo Hidden CT, published once (version, DOIs, a subset) and then back in curation
- incoming: Demo Incoming CT, a submission received through intake (never published)
"""
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from collections_app.access import accept_agreement
from collections_app.models import Access, Collection, CollectionVersion, License, Series, Status
from demo.services import load_demo, load_demo_collection, load_demo_submission
from collections_app.services.publish import publish
from collections_app.services.storage import store_bytes
from tests.conftest import make_user

ROLES = ("anonymous", "submitter", "committee", "agreed", "curator", "admin")
HIDDEN_SPEC = {
    "slug": "demo-hidden-ct", "title": "Demo Hidden CT", "short_name": "Demo-Hidden-CT", "subject_prefix": "DEMO-HID",
    "cancer_type": "Lung Cancer", "sites": ["Chest"], "modality": "CT", "sample": "CT_small.dcm", "body_part": "CHEST",
    "summary": "Published once, then back in curation.",
}


@dataclass
class Side:
    """One collection and the identifiers of its data."""

    collection: Collection
    version: CollectionVersion | None = None
    series: Series | None = None
    markers: set = field(default_factory=set)  # strings that must not reach a reader without data access

    @property
    def slug(self):
        return self.collection.slug


@dataclass
class World:
    users: dict
    public: Side
    limited: Side
    hidden: Side
    incoming: Side
    objects: dict  # other primary keys and names, by key


def _side(collection, version=None) -> Side:
    series = Series.objects.filter(collection=collection).order_by("pk").select_related("subject", "study").first()
    markers = set()
    for s in Series.objects.filter(collection=collection).select_related("subject", "study"):
        markers |= {s.series_instance_uid, s.study.study_instance_uid, s.subject.patient_id}
    return Side(collection, version, series, markers)


def build_world() -> World:
    from curation.checks.models import Finding
    from curation.checks.services import tag_edit
    from curation.models import IntakeBatch, QuarantinedFile, Submission, SubjectMapping
    from doi import services as doi_services
    from doi.models import DOI
    from proposals import services as proposal_services
    from supporting.models import SupportingFile

    load_demo()
    User = get_user_model()
    users = {role: User.objects.get(username=role) for role in ("submitter", "committee", "curator", "admin")}
    users["agreed"] = make_user("agreed")
    users["anonymous"] = None

    public = Collection.objects.get(slug="demo-chest-ct")
    limited = Collection.objects.get(slug="demo-brain-mr")
    Collection.objects.filter(pk=limited.pk).update(
        access=Access.LIMITED, license=License.TCIA_RESTRICTED, data_use_agreement="Do not try to re-identify anyone.")
    limited.refresh_from_db()
    accept_agreement(user=users["agreed"], collection=limited)

    hidden = load_demo_collection(HIDDEN_SPEC, subjects=1, studies=1, series=1, images=2)
    publish(hidden, actor=users["curator"], notes="Once public")
    hidden_series = list(Series.objects.filter(collection=hidden).values_list("pk", flat=True))
    hidden_subset = doi_services.request_subset(user=users["submitter"], title="Hidden subset", description="A selection.",
                                                series_ids=hidden_series)
    doi_services.approve_subset(hidden_subset, actor=users["curator"])
    Collection.objects.filter(pk=hidden.pk).update(status=Status.IN_CURATION)
    hidden.refresh_from_db()

    public_series = list(Series.objects.filter(collection=public).values_list("pk", flat=True)[:2])
    public_subset = doi_services.request_subset(user=users["submitter"], title="Public subset", description="A selection.",
                                                series_ids=public_series)
    doi_services.approve_subset(public_subset, actor=users["curator"])
    requested = doi_services.request_subset(user=users["submitter"], title="Requested subset", description="A selection.",
                                            series_ids=public_series[:1])
    derived = doi_services.create_derived(
        actor=users["curator"], slug="demo-segmentations", title="Demo segmentations", summary="Analysis results",
        sources=[public, hidden], files=[("labels.csv", store_bytes(b"series,label\n1,nodule\n", content_type="text/csv"), "")],
        creators=[{"family": "Doe", "given": "Jane", "name_type": "Personal"}],
    )
    doi_services.publish_derived(derived, actor=users["curator"])

    incoming = load_demo_submission()
    submission = Submission.objects.get(collection=incoming)
    batch = IntakeBatch.objects.filter(submission=submission).first()
    quarantined = QuarantinedFile.objects.filter(submission=submission).first()
    if quarantined is None:
        from curation.services.intake import quarantine

        quarantined = quarantine(submission, batch, "notes.txt", "Not a DICOM file", data=b"not dicom")
    mapping = SubjectMapping.objects.filter(submission=submission).first()
    incoming_series = Series.objects.filter(collection=incoming).order_by("pk").first()
    image = incoming_series.images.order_by("pk").first()
    finding = Finding.objects.create(collection=incoming, check_name="consistency_series", severity="warning",
                                     scope="series", message="Series description differs", fingerprint="f" * 64,
                                     series=incoming_series)
    correction = tag_edit(collection=incoming, scope="image", pk=image.pk, path="SeriesDescription", value="CT series 1b",
                          delete=False, actor=users["curator"], reason="typo")

    from curation.phi.models import PhiImport

    phi_import = PhiImport.objects.create(collection=incoming, actor=users["curator"], filename="report.csv")
    proposal = proposal_services.save_draft(submitter=users["submitter"], fields={"title": "Draft proposal"})

    # A cart shared when all three collections were readable to its sharer: public, limited and
    # (since taken back into curation) hidden series. Each reader sees only what they may read.
    from nbia.models import SharedCart

    cart = SharedCart.objects.create(name="world-cart", created_by=users["curator"])
    cart.series.set([Series.objects.filter(collection=c).order_by("pk").first() for c in (public, limited, hidden)])

    dois = {d.kind + ":" + (d.collection.slug if d.collection_id else d.version.collection.slug if d.version_id else str(d.pk)): d.doi
            for d in DOI.objects.select_related("collection", "version__collection")}
    objects = {
        "public_subset": public_subset.pk, "hidden_subset": hidden_subset.pk, "requested_subset": requested.pk,
        "supporting_file": SupportingFile.objects.filter(collection=public).order_by("pk").first().pk,
        "derived_slug": derived.slug, "derived_file": "labels.csv", "derived_doi": DOI.objects.get(derived=derived).doi,
        "public_subset_doi": DOI.objects.get(subset=public_subset).doi, "hidden_subset_doi": DOI.objects.get(subset=hidden_subset).doi,
        "submission": submission.pk, "batch": batch.pk, "quarantined": quarantined.pk, "mapping": mapping.pk,
        "finding": finding.pk, "correction": correction.pk, "check_run": None, "image": image.pk,
        "sha": image.stored_file.sha256, "proposal": proposal.pk, "dois": dois, "shared_cart": cart.name,
        "phi_import": phi_import.pk,
    }
    sides = {
        "public": _side(public, CollectionVersion.objects.get(collection=public, number=1)),
        "limited": _side(limited, CollectionVersion.objects.get(collection=limited, number=1)),
        "hidden": _side(hidden, CollectionVersion.objects.get(collection=hidden, number=1)),
        "incoming": _side(incoming),
    }
    sides["incoming"].markers.add(incoming.title)
    return World(users=users, objects=objects, **sides)
