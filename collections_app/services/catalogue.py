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
