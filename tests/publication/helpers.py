"""Helpers for the publication tests: the publish form as a browser would post it, and zips
compared without metadata.csv's Download Timestamp (the one thing that differs per download)."""
import io
import zipfile

from publication.forms import SETS


def publish_form(data: dict, *, action: str, kind: str = "major") -> dict:
    """POST fields of the publish page for metadata `data` (publication.metadata shape)."""
    post = {"action": action, "kind": kind}
    for key in ("summary", "description", "license", "notes"):
        post[key] = data.get(key, "")
    post["keywords"] = "\n".join(data.get("keywords", []))
    for name in SETS:
        rows = data.get(name, [])
        post.update({f"{name}-TOTAL_FORMS": str(len(rows)), f"{name}-INITIAL_FORMS": "0",
                     f"{name}-MIN_NUM_FORMS": "0", f"{name}-MAX_NUM_FORMS": "1000"})
        for i, row in enumerate(rows):
            post.update({f"{name}-{i}-{k}": v for k, v in row.items()})
    return post


def complete_metadata(**overrides) -> dict:
    data = {
        "summary": "Synthetic chest CT of two subjects, built from pydicom's CT sample for testing the portal.",
        "description": "Two subjects, one study each, two series of three images.",
        "license": "CC-BY-4.0", "notes": "",
        "creators": [{"name_type": "Personal", "family": "Doe", "given": "Jane", "orcid": "0000-0002-1825-0097",
                      "affiliation": "Example University"}],
        "contributors": [{"name_type": "Personal", "family": "Roe", "given": "Richard", "orcid": "",
                          "affiliation": "", "contributor_type": "DataCurator"}],
        "keywords": ["lung", "CT"],
        "funding": [{"funder_name": "National Cancer Institute", "funder_identifier": "https://ror.org/040gcmg81",
                     "award_number": "U01CA000001", "award_title": ""}],
        "related": [{"relation": "IsDescribedBy", "citation": "Doe J. A data descriptor. Sci Data. 2026.",
                     "doi": "10.1038/sdata.2026.1", "pmid": "", "url": ""}],
    }
    data.update(overrides)
    return data


def stable_members(body: bytes) -> dict:
    """Every zip member's bytes, with metadata.csv's Download Timestamp column and the line of
    sha256sums.txt that hashes metadata.csv left out."""
    z = zipfile.ZipFile(io.BytesIO(body))
    out = {}
    for name in z.namelist():
        data = z.read(name)
        if name.endswith("/metadata.csv"):
            data = b"\r\n".join(line.rsplit(b",", 1)[0] for line in data.split(b"\r\n"))
        elif name.endswith("/sha256sums.txt"):
            data = b"\n".join(line for line in data.split(b"\n") if not line.endswith(b"  metadata.csv"))
        out[name] = data
    return out
