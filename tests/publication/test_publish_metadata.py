"""Publication metadata on the publish page and `manage.py publish` (issue #15, point 4): the
gate, the preview that publishes nothing, the confirmation, and proposal data as a start."""
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from collections_app.models import CollectionVersion, Status
from demo.services import DEMO_COLLECTIONS, load_demo_collection
from doi import selectors
from doi.models import DOI
from publication import metadata
from publication.models import PublicationDraft
from tests.publication.helpers import complete_metadata, publish_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft_collection(db):
    c = load_demo_collection(DEMO_COLLECTIONS[0], subjects=1, studies=1, series=2, images=2)
    c.status = Status.IN_CURATION
    c.summary = "A submission in curation, waiting for checks."
    c.save()
    return c


def problems_of(collection, **overrides):
    return metadata.problems(metadata.normalize(complete_metadata(**overrides)), collection, site_name="Open Cancer Imaging Archive")


def test_the_gate_names_each_missing_or_malformed_field(draft_collection):
    assert problems_of(draft_collection) == {}
    assert "creators" in problems_of(draft_collection, creators=[])
    bad_orcid = [{"name_type": "Personal", "family": "Doe", "given": "Jane", "orcid": "0000-0002-1825-0098"}]
    assert "not a valid ORCID" in problems_of(draft_collection, creators=bad_orcid)["creators"][0]
    archive = [{"name_type": "Organizational", "family": "Open Cancer Imaging Archive"}]
    assert "publisher" in problems_of(draft_collection, creators=archive)["creators"][0]
    assert "at least 50" in problems_of(draft_collection, summary="Too short.")["summary"][0]
    assert "keywords" in problems_of(draft_collection, keywords=[])
    assert "not a DOI" in problems_of(draft_collection, related=[{"relation": "IsDescribedBy", "citation": "x", "doi": "12/3"}])["related"][0]
    assert "funder" in problems_of(draft_collection, funding=[{"award_number": "1"}])["funding"][0]
    assert "notes" not in problems_of(draft_collection)  # first version: no notes needed


def test_preview_shows_landing_page_and_datacite_json_and_publishes_nothing(curator_client, draft_collection):
    url = f"/collections/{draft_collection.slug}/publish/"
    page = curator_client.post(url, publish_form(complete_metadata(), action="preview")).content.decode()
    assert "Preview of version 1" in page and "Doe, Jane" in page and "https://orcid.org/0000-0002-1825-0097" in page
    assert "&quot;fundingReferences&quot;" in page and "National Cancer Institute" in page
    assert 'data-confirm-publish' in page
    # Nothing happened: no version, no DOI, the live metadata untouched, the collection not public.
    draft_collection.refresh_from_db()
    assert not CollectionVersion.objects.exists() and not DOI.objects.exists()
    assert draft_collection.summary == "A submission in curation, waiting for checks."
    assert not draft_collection.doi_creators.exists() and draft_collection.status == Status.IN_CURATION
    # Confirming with a stale digest publishes nothing either.
    r = curator_client.post(url, {"action": "confirm", "digest": "0" * 64}, follow=True)
    assert "preview it again" in r.content.decode() and not CollectionVersion.objects.exists()
    digest = PublicationDraft.objects.get(collection=draft_collection).digest
    r = curator_client.post(url, {"action": "confirm", "digest": digest})
    assert r.status_code == 302
    version = CollectionVersion.objects.get(collection=draft_collection)
    record = selectors.version_doi(version).metadata
    assert record["creators"][0]["nameIdentifiers"][0]["nameIdentifier"] == "https://orcid.org/0000-0002-1825-0097"
    assert record["contributors"][0]["contributorType"] == "DataCurator"
    assert record["fundingReferences"][0]["funderIdentifierType"] == "ROR"
    assert {"subject": "lung"} in record["subjects"]
    assert record["descriptions"][0]["description"].startswith("Synthetic chest CT")
    assert {"relatedIdentifier": "10.1038/sdata.2026.1", "relatedIdentifierType": "DOI", "relationType": "IsDescribedBy"} in record["relatedIdentifiers"]
    done = curator_client.get(r["Location"]).content.decode()
    assert "Published" in done and selectors.version_doi(version).doi in done
    landing = curator_client.get(selectors.version_doi(version).get_absolute_url()).content.decode()
    assert "Synthetic chest CT" in landing and "waiting for checks" not in landing and "Roe, Richard" in landing


def test_incomplete_metadata_cannot_be_confirmed(curator_client, draft_collection):
    url = f"/collections/{draft_collection.slug}/publish/"
    page = curator_client.post(url, publish_form(complete_metadata(creators=[]), action="preview")).content.decode()
    assert "Name at least one creator" in page and "data-confirm-publish" not in page
    digest = PublicationDraft.objects.get(collection=draft_collection).digest
    r = curator_client.post(url, {"action": "confirm", "digest": digest}, follow=True)
    assert "Not published" in r.content.decode() and not CollectionVersion.objects.exists()


def test_command_takes_a_yaml_file_and_options(tmp_path, draft_collection, curator):
    path = tmp_path / "meta.yaml"
    import yaml

    path.write_text(yaml.safe_dump(complete_metadata(keywords=["from-yaml"])))
    out = io.StringIO()
    call_command("publish", draft_collection.slug, "--metadata", str(path), "--preview", stdout=out)
    preview = out.getvalue()
    assert '"subject": "from-yaml"' in preview and "nothing was published" in preview
    assert not CollectionVersion.objects.exists()
    call_command("publish", draft_collection.slug, "--metadata", str(path), "--keyword", "from-option",
                 "--creator", "Roe, Richard | 0000-0002-1825-0097 | Somewhere", "--actor", curator.username, stdout=out)
    record = selectors.version_doi(CollectionVersion.objects.get()).metadata
    assert record["creators"][0]["name"] == "Roe, Richard" and {"subject": "from-option"} in record["subjects"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("summary: [unclosed\n")
    with pytest.raises(CommandError, match="bad.yaml: not valid YAML"):
        call_command("publish", draft_collection.slug, "--metadata", str(bad))
    with pytest.raises(CommandError, match="unknown field"):
        bad.write_text("authors: []\n")
        call_command("publish", draft_collection.slug, "--metadata", str(bad))


def test_proposal_data_prefills_the_publish_page(curator_client, submitter):
    from decimal import Decimal

    from proposals import services as proposal_services
    from proposals.models import Proposal

    submitter.first_name, submitter.last_name = "Ada", "Lovelace"
    submitter.save()
    proposal = Proposal.objects.create(submitter=submitter, title="Prefilled cohort", cancer_type="Lung Cancer",
                                       description="Low-dose CT of a screening cohort, with follow-up scans.",
                                       estimated_size_gb=Decimal("1"), license_requested="CC-BY-4.0")
    collection = proposal_services._create_draft_collection(proposal)
    proposal.collection = collection
    proposal.save(update_fields=["collection"])
    page = curator_client.get(f"/collections/{collection.slug}/publish/").content.decode()
    assert 'value="Lovelace"' in page and 'value="Ada"' in page
    assert "Low-dose CT of a screening cohort" in page and "Lung Cancer" in page
