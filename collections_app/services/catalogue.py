"""Loading the seed catalogue: the 15 collections of the data descriptor's Table 1."""
import json
from pathlib import Path

from django.db import transaction

from ..models import AnatomicSite, Collection, Modality, Status
from . import wiki

SEED_FILE = Path(__file__).resolve().parent.parent / "data" / "seed_catalogue.json"
GB = 1000**3


def load_seed() -> dict:
    return json.loads(SEED_FILE.read_text())


def modality(code: str, names: dict | None = None) -> Modality:
    names = names or load_seed()["modality_names"]
    obj, _ = Modality.objects.get_or_create(code=code, defaults={"name": names.get(code, code)})
    return obj


def site(name: str) -> AnatomicSite:
    obj, _ = AnatomicSite.objects.get_or_create(name=name)
    return obj


@transaction.atomic
def load_catalogue() -> tuple[int, int]:
    """Create or update the seed collections. Idempotent; returns (created, updated)."""
    seed = load_seed()
    names = seed["modality_names"]
    created = updated = 0
    for item in seed["collections"]:
        collection, was_created = Collection.objects.update_or_create(
            slug=item["slug"],
            defaults={
                "title": item["title"],
                "short_name": item["short_name"],
                "subject_prefix": item["subject_prefix"],
                "cancer_type": item["cancer_type"],
                "summary": item["summary"],
                "description": item["description"],
                "license": item["license"],
                "species": item.get("species", "Human"),
                "declared_size_bytes": round(item["size_gb"] * GB) if item.get("size_gb") is not None else None,
                "declared_subjects": item.get("subjects"),
                "citation_note": item.get("citation_note", ""),
                "status": Status.PUBLISHED,
            },
        )
        collection.modalities.set([modality(code, names) for code in item["modalities"]])
        collection.anatomic_sites.set([site(name) for name in item["sites"]])
        page = wiki.ensure_page(collection, "overview", "Overview")
        if page.current is None:
            wiki.save_revision(
                page=page,
                body=f"## Summary\n\n{item['summary']}\n\n## Description\n\n{item['description']}\n",
                author=None,
                comment="Imported from the seed catalogue",
            )
        created += was_created
        updated += not was_created
    return created, updated


# DICOM BodyPartExamined (PS3.16 Annex L defined terms) → the catalogue's anatomic site names.
# A value not listed here becomes a site named after it in title case ("PELVIS" → "Pelvis").
BODY_PART_SITES = {
    "HEADNECK": "Head-Neck", "HEAD": "Head", "NECK": "Neck", "BRAIN": "Brain", "SKULL": "Head",
    "CHEST": "Chest", "THORAX": "Chest", "LUNG": "Lung", "BREAST": "Breast", "ABDOMEN": "Abdomen",
    "CHESTABDOMEN": "Chest", "ABDOMENPELVIS": "Abdomen", "PELVIS": "Pelvis", "PROSTATE": "Prostate",
    "COLON": "Colon", "LIVER": "Liver", "KIDNEY": "Kidney", "PANCREAS": "Pancreas", "BLADDER": "Bladder",
    "UTERUS": "Uterus", "CERVIX": "Cervix", "OVARY": "Ovary", "ESOPHAGUS": "Esophagus", "STOMACH": "Stomach",
    "WHOLEBODY": "Whole Body", "EXTREMITY": "Extremity", "CSPINE": "Spine", "TSPINE": "Spine", "LSPINE": "Spine",
    "SPINE": "Spine", "PHANTOM": "Phantom",
}


def site_for_body_part(value: str) -> AnatomicSite | None:
    """The anatomic site a BodyPartExamined value stands for (created if new); None for blanks."""
    key = "".join(ch for ch in (value or "").upper() if ch.isalnum())
    if not key:
        return None
    name = BODY_PART_SITES.get(key) or value.strip().replace("_", " ").title()
    return site(name)


def describe(collection: Collection, *, summary: str, description: str, license: str) -> Collection:
    """Change what the public reads about a collection (abstract, description, license); the
    collection's `updated_at` moves, so cached public pages of it are made again."""
    from ..models import Access, License

    collection.summary, collection.description, collection.license = summary, description, license
    if license == License.TCIA_RESTRICTED:
        collection.access = Access.LIMITED
    collection.full_clean(validate_unique=False)
    collection.save(update_fields=["summary", "description", "license", "access", "updated_at"])
    return collection
