"""Demo data (the layer above every app): two small public collections of real DICOM built from pydicom's samples, and one
account per role. Nothing from the network; running it twice changes nothing."""
import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from curation.dicom.synth import SeriesSpec, build_series
from tcia.core import roles

from collections_app.models import Access, Collection, License, Status
from collections_app.services import wiki
from collections_app.services.catalogue import modality, site
from collections_app.services.indexing import index_dataset
from collections_app.services.stats import refresh_collection_stats
from collections_app.services.storage import store_bytes

DEMO_ACCOUNTS = [
    ("curator", "curator-demo", roles.CURATOR),
    ("committee", "committee-demo", roles.COMMITTEE),
    ("submitter", "submitter-demo", roles.SUBMITTER),
    ("admin", "admin-demo", roles.ADMIN),
]

DEMO_COLLECTIONS = [
    {
        "slug": "demo-chest-ct", "title": "Demo Chest CT", "short_name": "Demo-Chest-CT", "subject_prefix": "DEMO-CT",
        "cancer_type": "Lung Cancer", "sites": ["Chest", "Lung"], "modality": "CT", "sample": "CT_small.dcm",
        "body_part": "CHEST",
        "summary": "Synthetic demonstration data: CT images built from pydicom's CT sample, 3 subjects x 2 studies x 2 series.",
    },
    {
        "slug": "demo-brain-mr", "title": "Demo Brain MR", "short_name": "Demo-Brain-MR", "subject_prefix": "DEMO-MR",
        "cancer_type": "Glioblastoma", "sites": ["Brain"], "modality": "MR", "sample": "MR_small.dcm",
        "body_part": "BRAIN",
        "summary": "Synthetic demonstration data: MR images built from pydicom's MR sample, 3 subjects x 2 studies x 2 series.",
    },
]


def create_demo_accounts() -> list[tuple[str, str, str]]:
    User = get_user_model()
    for role in roles.ALL_ROLES:
        Group.objects.get_or_create(name=role)
    for username, password, role in DEMO_ACCOUNTS:
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.org"})
        if created:
            user.set_password(password)
            user.is_staff = role in (roles.CURATOR, roles.ADMIN)
            user.is_superuser = role == roles.ADMIN
            user.save()
        user.groups.add(Group.objects.get(name=role))
    return DEMO_ACCOUNTS


@transaction.atomic
def load_demo_collection(spec: dict, subjects: int = 3, studies: int = 2, series: int = 2, images: int = 3) -> Collection:
    collection, _ = Collection.objects.update_or_create(
        slug=spec["slug"],
        defaults={
            "title": spec["title"],
            "short_name": spec["short_name"],
            "subject_prefix": spec["subject_prefix"],
            "cancer_type": spec["cancer_type"],
            "summary": spec["summary"],
            "description": spec["summary"] + " The pixel values carry a little random noise so no two images are identical.",
            "license": License.CC_BY_3,
            "access": Access.PUBLIC,
            "status": Status.PUBLISHED,
        },
    )
    collection.modalities.set([modality(spec["modality"])])
    collection.anatomic_sites.set([site(name) for name in spec["sites"]])
    for s in range(1, subjects + 1):
        patient = f"{spec['subject_prefix']}-{s:04d}"
        for t in range(1, studies + 1):
            for r in range(1, series + 1):
                key = f"{spec['slug']}:{s}:{t}"
                built = build_series(
                    SeriesSpec(
                        patient_id=patient,
                        patient_name=patient,
                        study_key=key,
                        series_key=f"{key}:{r}",
                        modality_sample=spec["sample"],
                        images=images,
                        study_date=dt.date(2010, 1, 1) + dt.timedelta(days=90 * (t - 1) + 7 * s),
                        study_description=f"{spec['modality']} {'baseline' if t == 1 else 'follow-up'}",
                        series_description=f"{spec['modality']} series {r}",
                        series_number=r,
                        body_part=spec["body_part"],
                        patient_sex="F" if s % 2 else "M",
                    )
                )
                for ds, data in built:
                    index_dataset(collection=collection, ds=ds, stored_file=store_bytes(data))
    page = wiki.ensure_page(collection, "overview", "Overview")
    if page.current is None:
        wiki.save_revision(page=page, body=f"## Summary\n\n{spec['summary']}\n", author=None, comment="Demo data")
    return refresh_collection_stats(collection)


def load_demo() -> list[Collection]:
    create_demo_accounts()
    collections = [load_demo_collection(spec) for spec in DEMO_COLLECTIONS]
    # Publication: each demo collection gets version 1 with a DOI (once; reruns change nothing).
    from collections_app.models import CollectionVersion
    from collections_app.services.publish import publish

    from doi.services import apply_publication_metadata

    for collection in collections:
        if not CollectionVersion.objects.filter(collection=collection).exists():
            # Credited people and keywords, as a curator enters them on the publish page.
            apply_publication_metadata(collection, {
                "summary": collection.summary, "description": collection.description, "license": collection.license,
                "creators": [{"name_type": "Personal", "given": "Jane", "family": "Doe", "orcid": "0000-0002-1825-0097",
                              "affiliation": "Example University"},
                             {"name_type": "Organizational", "family": "Demo Imaging Consortium"}],
                "contributors": [{"name_type": "Personal", "given": "Richard", "family": "Roe",
                                  "contributor_type": "DataCurator"}],
                "keywords": [collection.cancer_type, "demonstration data"],
            }, actor=None)
            if collection.slug == DEMO_COLLECTIONS[0]["slug"]:
                attach_demo_supporting(collection)
            publish(collection, actor=None, notes="Demo release", major=True)
    return collections


def attach_demo_supporting(collection: Collection) -> None:
    """A clinical table (one row per subject) and a LIDC-IDRI style reading of the first series,
    published with version 1 and listed on its landing page."""
    import csv
    import io

    from collections_app.models import Image
    from supporting import services as supporting

    subjects = list(collection.subjects_index.order_by("patient_id").values_list("patient_id", flat=True))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["PatientID", "Age at diagnosis", "Sex", "Stage", "Pack years", "Survival (months)"])
    for n, subject in enumerate(subjects):
        writer.writerow([subject, 58 + 3 * n, "F" if n % 2 == 0 else "M", ["IA", "IIB", "IIIA"][n % 3], 20 + 5 * n, 30 + 7 * n])
    supporting.attach(collection, name="clinical.csv", data=buf.getvalue().encode(), kind="clinical",
                      description="Synthetic clinical data: age, sex, stage, smoking and survival per subject")
    first = Image.objects.filter(collection=collection).select_related("series__study").order_by(
        "series__subject__patient_id", "series__series_instance_uid", "instance_number").first()
    images = Image.objects.filter(series=first.series).order_by("instance_number")
    rois = "".join(f"<roi><imageZposition>{n}.0</imageZposition><imageSOP_UID>{i.sop_instance_uid}</imageSOP_UID>"
                   f"<inclusion>TRUE</inclusion><edgeMap><xCoord>40</xCoord><yCoord>50</yCoord></edgeMap></roi>"
                   for n, i in enumerate(images))
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<LidcReadMessage xmlns="http://www.nih.gov"><ResponseHeader>'
           f"<SeriesInstanceUid>{first.series.series_instance_uid}</SeriesInstanceUid>"
           f"<StudyInstanceUID>{first.series.study.study_instance_uid}</StudyInstanceUID></ResponseHeader>"
           f"<readingSession><annotationVersion>3.12</annotationVersion><servicingRadiologistID>reader-1</servicingRadiologistID>"
           f"<unblindedReadNodule><noduleID>1</noduleID><characteristics><malignancy>3</malignancy></characteristics>"
           f"{rois}</unblindedReadNodule></readingSession></LidcReadMessage>\n")
    supporting.attach(collection, name="annotations-reader1.xml", data=xml.encode(), kind="annotation",
                      description="Synthetic nodule outline by one reader (LIDC-IDRI readingSession XML)")


def load_demo_submission() -> Collection:
    """A draft collection in curation whose files came through real intake (de-identification,
    hooks for checks, PHI report and review thumbnails), so the curator pages have work in them.
    The synthetic originals carry fake names and IDs that intake replaces."""
    from curation.models import IntakeBatch, Submission
    from curation.services.intake import Intake, start_batch
    from curation.services.submissions import create_submission

    collection, _ = Collection.objects.get_or_create(
        slug="demo-incoming-ct",
        defaults={
            "title": "Demo Incoming CT", "short_name": "Demo-Incoming-CT", "subject_prefix": "DEMO-IN",
            "cancer_type": "Lung Cancer", "status": Status.DRAFT,
            "summary": "Synthetic chest CT of two subjects received through intake (de-identified on arrival), for trying "
                       "the curation pages: checks, visual review and PHI sign-off.",
        },
    )
    submission = Submission.objects.filter(collection=collection).first() or create_submission(
        collection=collection, promised_subjects=2, promised_series=4
    )
    if submission.batches.exists():
        return collection
    batch = start_batch(submission=submission, source=IntakeBatch.Source.CLI, label="demo data")
    intake = Intake(submission, batch)
    for s, name in enumerate(["Doe^Jane", "Roe^Richard"], start=1):
        for r in (1, 2):
            for ds, data in build_series(
                SeriesSpec(
                    patient_id=f"MRN{7000 + s}", patient_name=name, study_key=f"demo-in:{s}", series_key=f"demo-in:{s}:{r}",
                    images=4, series_number=r, series_description=f"CT series {r}", study_description="CT chest",
                    patient_sex="F" if s == 1 else "M",
                )
            ):
                intake.take(data, f"{name.split('^')[0].lower()}/{ds.SOPInstanceUID[-6:]}.dcm")
    intake.finish()
    collection.refresh_from_db()
    return collection
