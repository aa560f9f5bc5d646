"""Payloads put through the real write paths, for the browser XSS test: a self-registered
submitter's proposal (every text field), the committee's question and the chair's reason, DICOM
descriptions through intake, a wiki page, a subset request and an analysis-results dataset.
Every payload carries a tag (`xss-<field>`) so a test can check it reached the page as text."""
from curation.dicom.synth import SeriesSpec, build_series


def payload(field: str) -> str:
    tag = f"xss-{field}"
    return (f'{tag}<script>alert("{tag}")</script><img src=x onerror="alert(\'{tag}\')">'
            f'<svg onload="alert(\'{tag}\')"></svg>"\'><a href="javascript:alert(\'{tag}\')">{tag}-link</a>')


def dicom_with_payloads(n_images=2):
    """One synthetic CT series whose free-text attributes carry payloads."""
    return build_series(SeriesSpec(
        patient_id="XSS-PAT", patient_name="Doe^Jane", study_key="xss-study", series_key="xss-series", images=n_images,
        series_description=payload("series")[:64], study_description=payload("study")[:64], series_number=1,
    ))


def publish_through_curation(collection, curator, notes):
    """Review every image, sign the PHI report and publish, with the curators' services."""
    from collections_app.models import Series
    from collections_app.services.publish import publish
    from curation.phi.services import sign_off
    from curation.review import services as review
    from curation.review.models import ImageClass

    for series in Series.objects.filter(collection=collection):
        for image_class in ImageClass.objects.filter(series=series):
            review.claim(image_class=image_class, user=curator)
        review.accept_series(series=series, actor=curator, expected=review.unreviewed_images(series).count())
    sign_off(collection=collection, actor=curator, statement=payload("signoff"))
    return publish(collection, actor=curator, notes=notes)
