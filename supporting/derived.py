"""Analysis results (doi.DerivedDataset): DICOM SEG and RTSTRUCT files are read for the images
they reference, and each reference is checked against the released versions of the dataset's
source collections. The dataset's landing page shows the linkage; publishing refuses files
whose references do not resolve."""
import io

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from collections_app.models import VersionEntry

from .models import DerivedFileLink

LINKED_MODALITIES = ("SEG", "RTSTRUCT")
# References to a study, not an image (RTReferencedStudySequence names the study this way).
STUDY_CLASSES = {"1.2.840.10008.3.1.2.3.1", "1.2.840.10008.3.1.2.3.2"}
MAX_DANGLING = 50


def referenced_sops(ds) -> list[str]:
    """Every ReferencedSOPInstanceUID (0008,1155) nested anywhere in `ds`, study references excluded."""
    out = []
    for element in ds.iterall():
        if element.VR != "SQ":
            continue
        for item in element.value:
            uid = item.get("ReferencedSOPInstanceUID")
            if uid and str(item.get("ReferencedSOPClassUID", "")) not in STUDY_CLASSES:
                out.append(str(uid))
    return list(dict.fromkeys(out))


def link_file(derived_file) -> DerivedFileLink | None:
    """Read a derived file; for a SEG or RTSTRUCT record what it references and what resolves."""
    with derived_file.stored_file.open() as fh:
        head = fh.read(132)
        if head[128:132] != b"DICM":
            DerivedFileLink.objects.filter(derived_file=derived_file).delete()
            return None
        data = head + fh.read()
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (InvalidDicomError, EOFError, ValueError):
        return DerivedFileLink.objects.update_or_create(derived_file=derived_file, defaults={
            "modality": "", "references": 0, "resolved": 0, "series": [], "dangling": [],
            "error": f"{derived_file.name}: not a readable DICOM file"})[0]
    modality = str(ds.get("Modality", ""))
    if modality not in LINKED_MODALITIES:
        DerivedFileLink.objects.filter(derived_file=derived_file).delete()
        return None
    refs = referenced_sops(ds)
    found = {}
    rows = (VersionEntry.objects.filter(version__collection__in=derived_file.dataset.sources.all(),
                                        version__withdrawn_at__isnull=True, sop_instance_uid__in=refs)
            .order_by("version__number")
            .values_list("sop_instance_uid", "version__collection__slug", "version__number", "series__series_instance_uid"))
    for sop, slug, number, series_uid in rows:
        found[sop] = (slug, series_uid, number)  # the latest version holding it wins
    series = sorted({v for v in found.values()})
    dangling = [u for u in refs if u not in found]
    return DerivedFileLink.objects.update_or_create(derived_file=derived_file, defaults={
        "modality": modality, "references": len(refs), "resolved": len(found),
        "series": [{"collection": c, "series_uid": s, "version": n} for c, s, n in series],
        "dangling": dangling[:MAX_DANGLING],
        "error": "" if refs else f"{derived_file.name}: the {modality} references no image"})[0]


def link_dataset(dataset) -> list[DerivedFileLink]:
    return [link for f in dataset.files.select_related("stored_file") if (link := link_file(f)) is not None]


def problems(dataset) -> list[str]:
    """Why the dataset's DICOM files may not be published: unresolved references."""
    out = []
    for link in DerivedFileLink.objects.filter(derived_file__dataset=dataset).select_related("derived_file"):
        if link.error:
            out.append(link.error)
        elif link.resolved < link.references:
            out.append(f"{link.derived_file.name}: {link.references - link.resolved} of {link.references} referenced "
                       f"images are not in a released version of the source collections")
    return out


def landing_rows(dataset) -> dict:
    """What the derived landing page adds: per DICOM file its linkage, and the source versions
    referenced with their DOIs."""
    from doi import selectors

    links = list(DerivedFileLink.objects.filter(derived_file__dataset=dataset).select_related("derived_file"))
    versions = {}
    for link in links:
        for s in link.series:
            versions.setdefault((s["collection"], s["version"]), set()).add(s["series_uid"])
    sources = {c.slug: c for c in dataset.sources.all()}
    referenced = []
    for (slug, number), series in sorted(versions.items()):
        collection = sources.get(slug)
        version = collection.versions.filter(number=number).first() if collection else None
        doi = selectors.citable_doi_for_version(version) if version else None
        referenced.append({"collection": collection, "number": number, "series": len(series), "doi": doi})
    return {"links": links, "referenced": referenced}


def version_dois(dataset) -> list[str]:
    """The DOIs of the source versions a dataset's SEG/RTSTRUCT files reference (IsDerivedFrom)."""
    return sorted({r["doi"].doi for r in landing_rows(dataset)["referenced"] if r["doi"] is not None})
