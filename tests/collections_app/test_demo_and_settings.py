import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from django.urls import reverse

from collections_app.models import Collection, Image
from collections_app.services.publish import publish
from demo.services import DEMO_COLLECTIONS, load_demo_collection

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_demo_collection_counts_are_shown_on_its_page(client):
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=2, studies=2, series=2, images=2)
    assert (collection.subject_count, collection.study_count, collection.series_count, collection.image_count) == (2, 4, 8, 16)
    publish(collection, actor=None, notes="First")
    html = client.get(reverse("collection_detail", args=[collection.slug])).content.decode()
    assert 'data-fact="subjects">2<' in html
    assert 'data-fact="images">16<' in html
    assert 'data-modality="CT">16<' in html
    # The stored files are real DICOM that pydicom reads back with the indexed identifiers.
    image = Image.objects.filter(series__collection=collection).first()
    with image.stored_file.open() as fh:
        ds = pydicom.dcmread(fh)
    assert ds.SOPInstanceUID == image.sop_instance_uid
    assert ds.PatientID == image.series.subject.patient_id


@pytest.mark.django_db
def test_loading_demo_twice_adds_nothing():
    load_demo_collection(DEMO_COLLECTIONS[1], subjects=1, studies=1, series=1, images=2)
    again = load_demo_collection(DEMO_COLLECTIONS[1], subjects=1, studies=1, series=1, images=2)
    assert again.image_count == 2
    assert Image.objects.count() == 2
    assert Collection.objects.count() == 1


def test_refuses_to_start_without_secret_key_when_debug_is_off(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "DJANGO_DEBUG"}}
    env.update(DJANGO_SETTINGS_MODULE="tcia.settings", TCIA_VAR_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    env["DJANGO_SECRET_KEY"] = "x" * 50
    ok = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.django_db
def test_collection_page_lists_each_indexed_modality_once(client):
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=1, studies=1, series=3, images=1)
    publish(collection, actor=None, notes="First")
    html = client.get(reverse("collection_detail", args=[collection.slug])).content.decode()
    facts = html.split("<dt>Modalities</dt>")[1].split("</dd>")[0]
    assert facts.count(">CT<") == 1
    assert "BodyPartExamined: CHEST)" in html


@pytest.mark.django_db
def test_demo_submission_comes_through_intake_without_its_fake_phi():
    from demo.services import load_demo_submission

    collection = load_demo_submission()
    assert collection.status == "in_curation" and collection.image_count == 16
    assert set(collection.subjects_index.values_list("patient_id", flat=True)) == {"DEMO-IN-0001", "DEMO-IN-0002"}
    for image in Image.objects.filter(series__collection=collection):
        with image.stored_file.open() as fh:
            data = fh.read()
        assert b"Doe^Jane" not in data and b"Roe^Richard" not in data and b"MRN700" not in data
    assert load_demo_submission().image_count == 16  # a second run adds nothing
