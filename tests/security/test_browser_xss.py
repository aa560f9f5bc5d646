"""Stored XSS, probed as an attacker would, in a real browser (Debian's Chromium via Playwright).

A self-registered submitter writes script payloads into every field of a proposal; the chair
accepts it (payload in the reason), so a collection is named after it; DICOM with payload
descriptions arrives through intake; curators review, sign and publish it; a curator writes a
wiki page of payloads; a logged-in user requests a subset with a payload title and a curator
publishes analysis results with payload fields. Then every public and staff page that shows
them is opened: no dialog may open, no element built from a payload may exist (no <img src=x>,
no handler attribute, no script holding a payload), the payload must be on the page as text,
and the browser may report no Content-Security-Policy violation.
"""
import re

import pytest

from tests.browser import open_page, require_browser

sync_api = require_browser()

from django.core import mail  # noqa: E402

from tests.conftest import make_user  # noqa: E402
from tests.security.xss_world import dicom_with_payloads, payload, publish_through_curation  # noqa: E402

PASSWORD = "a-long-passphrase-42"
# Read in the page: elements a payload would create if it were parsed as markup.
# (Inside a wiki body, sanitized markup is the point: there only active content counts.)
DOM_PROBE = """() => {
  const bad = [...document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload], [onmouseover], a[href^="javascript:"]')]
    .filter(e => !(e.closest('.wiki-body') && e.matches('img:not([onerror]):not([onload])')))
    .map(e => e.outerHTML.slice(0, 120));
  const scripts = [...document.scripts].filter(s => s.textContent.includes('alert("xss-')).map(s => s.outerHTML.slice(0, 120));
  return bad.concat(scripts);
}"""
CSP_LISTENER = """document.addEventListener('securitypolicyviolation', e => {
  (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || ''));
});"""


class Watch:
    """What the browser reports while the pages are open."""

    def __init__(self, page):
        self.dialogs, self.console = [], []
        page.on("dialog", lambda d: (self.dialogs.append(f"{page.url}: {d.message}"), d.dismiss()))
        page.on("console", lambda m: self.console.append(f"{page.url}: {m.text}")
                if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text else None)
        page.add_init_script(CSP_LISTENER)


def _login(page, base, username, password):
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def _logout(page, base):
    page.context.clear_cookies()


def _register_and_propose(page, base, ct, lung):
    page.goto(f"{base}/proposals/register/")
    page.fill("#id_email", "attacker@lab.example")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_load_state()
    assert "Check your e-mail" in page.content()
    link = re.search(r"https?://\S+/proposals/register/confirm/\S+", mail.outbox[-1].body).group(0)
    page.goto(link)
    page.goto(f"{base}/proposals/new/")
    page.fill("#id_title", payload("title")[:200])
    page.fill("#id_cancer_type", payload("cancer")[:100])
    for name in ("description", "clinical_data", "analysis_results", "data_quality", "scientific_value", "reuse_potential"):
        page.fill(f"#id_{name}", payload(name))
    page.fill("#id_number_of_subjects", "12")
    page.fill("#id_promised_series", "24")
    page.fill("#id_estimated_size_gb", "1.5")
    page.check(f"input[name=modalities][value='{ct.pk}']")
    page.check(f"input[name=anatomic_sites][value='{lung.pk}']")
    page.select_option("#id_deidentification", "ps315")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_load_state()
    from django.core.files.uploadedfile import SimpleUploadedFile

    from proposals import services
    from proposals.models import Proposal

    proposal = Proposal.objects.get()
    services.add_attachment(proposal=proposal, user=proposal.submitter,
                            uploaded=SimpleUploadedFile(payload("attachment")[:120] + ".pdf", b"%PDF-1.4\n"))
    page.goto(f"{base}/proposals/{proposal.pk}/edit/")
    page.get_by_role("button", name="Submit to the committee").click()
    page.wait_for_load_state()


@pytest.mark.django_db(transaction=True)
def test_no_payload_runs_on_any_page(live_server):
    from collections_app.models import AnatomicSite, Collection, Modality, Series
    from collections_app.services.storage import store_bytes
    from curation.models import IntakeBatch, Submission
    from curation.services.intake import Intake, start_batch
    from doi import services as doi_services
    from doi.models import DOI
    from proposals import services
    from proposals.models import CHAIR_GROUP, Proposal

    base = live_server.url
    ct = Modality.objects.get_or_create(code="CT", defaults={"name": "Computed Tomography"})[0]
    lung = AnatomicSite.objects.get_or_create(name="Lung")[0]
    chair = make_user("chair", "committee", CHAIR_GROUP)
    member = make_user("member", "committee")
    curator = make_user("cur", "curator", is_staff=True)
    admin = make_user("boss", "admin", is_staff=True, is_superuser=True)
    reader = make_user("reader")

    with open_page(sync_api, 1280, 900, 20000) as page:
        watch = Watch(page)
        _register_and_propose(page, base, ct, lung)
        proposal = Proposal.objects.get()
        assert proposal.status == "submitted" and proposal.title.startswith("xss-title<script>")

        question = services.ask_question(proposal=proposal, asker=member, text=payload("question"))
        services.answer_question(question=question, author=proposal.submitter, text=payload("answer"))
        services.score(proposal=proposal, member=member, data_quality=3, scientific_value=4, reuse_potential=5,
                       comment=payload("score"))
        services.decide(proposal=proposal, chair=chair, outcome="accept", reason=payload("reason"))
        proposal.refresh_from_db()
        collection = proposal.collection
        submission = Submission.objects.get(collection=collection)
        batch = start_batch(submission=submission, source=IntakeBatch.Source.CLI, label=payload("batch")[:100])
        intake = Intake(submission, batch)
        for _ds, data in dicom_with_payloads():
            intake.take(data, payload("file")[:80] + ".dcm")
        intake.take(b"not dicom", payload("junk")[:80] + ".txt")
        intake.finish()
        version = publish_through_curation(collection, curator, notes=payload("notes"))
        collection.refresh_from_db()
        series = Series.objects.filter(collection=collection).first()
        # The checks read the DICOM descriptions. (A tag edit runs as a task, which in this
        # transactional test would close the test's database connection: corrections are left out.)
        from curation.checks import services as checks
        from curation.checks.models import Finding

        checks.run_checks(collection=collection, actor=curator, checks=["consistency_series", "rules", "completeness"])
        image = series.images.order_by("pk").first()
        finding = Finding.objects.filter(collection=collection).first()

        # A curator writes the wiki page in the browser.
        _login(page, base, curator.username, "pw-cur")
        page.goto(f"{base}/collections/{collection.slug}/pages/overview/edit/")
        page.fill("#id_body", "## " + payload("wiki-heading") + "\n\n" + payload("wiki") + "\n\n[x](javascript:alert(1))\n")
        page.fill("#id_comment", payload("wiki-comment")[:300])
        page.get_by_role("button", name="Save revision").click()
        page.wait_for_load_state()
        page.goto(f"{base}/collections/{collection.slug}/pages/overview/edit/")
        page.fill("#id_body", payload("wiki") + "\n\n" + payload("wiki-second") + "\n")
        page.fill("#id_comment", "second")
        page.get_by_role("button", name="Save revision").click()
        page.wait_for_load_state()

        # A logged-in user puts the series in the cart and asks for a subset DOI.
        _logout(page, base)
        _login(page, base, reader.username, "pw-reader")
        page.goto(f"{base}/collections/{collection.slug}/series/")
        page.check(f"input[name=series][value='{series.pk}']")
        page.get_by_role("button", name="Add selected to cart").click()
        page.goto(f"{base}/cart/")
        cart_problems = page.evaluate(DOM_PROBE)
        assert "xss-title" in page.content() and not cart_problems, cart_problems
        page.fill("#id_title", payload("subset-title")[:200]) if page.locator("#id_title").count() else \
            page.fill("input[name=title]", payload("subset-title")[:200])
        page.fill("textarea[name=description]", payload("subset-description"))
        page.get_by_role("button", name="Request a DOI").click()
        page.wait_for_load_state()
        from doi.models import Subset

        subset = Subset.objects.get()
        subset_doi = doi_services.approve_subset(subset, actor=curator, note=payload("subset-note"))
        derived = doi_services.create_derived(
            actor=curator, slug="xss-results", title=payload("derived-title")[:200], summary=payload("derived-summary"),
            description=payload("derived-description"), sources=[collection],
            files=[("labels.csv", store_bytes(b"a,b\n1,2\n", content_type="text/csv"), payload("derived-file"))],
            creators=[{"family": payload("creator")[:100], "given": "A", "name_type": "Personal"}],
        )
        derived_doi = doi_services.publish_derived(derived, actor=curator)
        concept = DOI.objects.get(collection=collection, kind=DOI.Kind.CONCEPT)
        version_doi = DOI.objects.get(version=version)

        public_pages = [
            ("/", "xss-title"), ("/?q=xss", "xss-title"), (f"/collections/{collection.slug}/", "xss-wiki"),
            (f"/collections/{collection.slug}/pages/overview/history/", "xss-wiki-comment"),
            (f"/collections/{collection.slug}/pages/overview/revisions/2/", "xss-wiki"),
            (f"/collections/{collection.slug}/pages/overview/diff/?a=1&b=2", "xss-wiki"),
            (f"/collections/{collection.slug}/series/", "xss-series"),
            (f"/doi/{concept.doi}", "xss-title"), (f"/doi/{version_doi.doi}", "xss-title"),
            (f"/doi/{version_doi.doi}?style=ieee", "xss-title"), (f"/doi/{version_doi.doi}?style=mla", "xss-title"),
            (f"/doi/{version_doi.doi}?style=chicago-author-date", "xss-title"),
            (f"/doi/{version_doi.doi}?style=vancouver", "xss-title"), (f"/doi/{version_doi.doi}?style=harvard", "xss-title"),
            (f"/doi/{subset_doi.doi}", "xss-subset-title"), (f"/doi/{derived_doi.doi}", "xss-derived-title"),
            (f"/collections/{collection.slug}/agreement/", "xss-title"),
            ("/api/docs/", None),
        ]
        reader_pages = [(f"/doi/subsets/{subset.pk}/", "xss-subset-title")]
        submitter_pages = [("/proposals/", "xss-title"), (f"/proposals/{proposal.pk}/", "xss-description"),
                           (f"/proposals/{proposal.pk}/", "xss-attachment"),
                           ("/proposals/notifications/", "xss-title")]
        committee_pages = [("/proposals/board/", "xss-title"), (f"/proposals/{proposal.pk}/", "xss-answer")]
        staff_pages = [
            ("/curation/", "xss-title"), (f"/curation/submissions/{submission.pk}/", "xss-title"),
            (f"/curation/batches/{batch.pk}/", "xss-file"), (f"/curation/submissions/{submission.pk}/quarantine/", "xss-junk"),
            (f"/curation/submissions/{submission.pk}/subjects/", None),
            (f"/curation/checks/{collection.slug}/", "xss-title"), (f"/curation/checks/{collection.slug}/corrections/", None),
            (f"/curation/phi/{collection.slug}/", "xss-title"),
            (f"/curation/phi/{collection.slug}/?tag=SeriesDescription", "xss-series"),
            (f"/curation/phi/{collection.slug}/?path=(0008,103E)", "xss-series"),
            (f"/curation/phi/{collection.slug}/deid-score/", "xss-title"), ("/curation/review/", "xss-title"),
            (f"/curation/checks/history/image/{image.pk}/", None),
            *([(f"/curation/checks/findings/{finding.pk}/", None)] if finding else []),
            (f"/curation/review/c/{collection.slug}/", "xss-series"), (f"/curation/review/series/{series.pk}/", "xss-series"),
            (f"/curation/review/series/{series.pk}/view/", "xss-series"),
            *[(f"/curation/review/class/{pk}/", "xss-series") for pk in series.image_classes.values_list("pk", flat=True)[:1]],
            (f"/collections/{collection.slug}/publish/", "xss-notes"), ("/doi/subsets/", "xss-subset-title"),
            ("/doi/derived/new/", "xss-title"), (f"/collections/{collection.slug}/pages/overview/edit/", "xss-wiki"),
        ]
        admin_pages = [("/admin/collections_app/collection/", "xss-title"), ("/admin/proposals/proposal/", "xss-title"),
                       (f"/admin/collections_app/collection/{collection.pk}/change/", "xss-title")]

        failures = []

        def visit(pages, who):
            for path, marker in pages:
                response = page.goto(base + path)
                page.wait_for_load_state("networkidle")
                if response is None or response.status >= 400:
                    failures.append(f"{who} {path}: status {response and response.status}")
                    continue
                built = page.evaluate(DOM_PROBE)
                if built:
                    failures.append(f"{who} {path}: payload became markup: {built[:2]}")
                if marker and marker not in page.content():
                    failures.append(f"{who} {path}: the payload {marker} is not on the page (the test would prove nothing)")
                violations = page.evaluate("window.__csp || []")
                if violations:
                    failures.append(f"{who} {path}: CSP violations {violations[:3]}")

        _logout(page, base)
        visit(public_pages, "anonymous")
        _login(page, base, reader.username, "pw-reader")
        visit(reader_pages + public_pages[:3], "reader")
        _logout(page, base)
        _login(page, base, "attacker@lab.example", PASSWORD)
        visit(submitter_pages, "submitter")
        _logout(page, base)
        _login(page, base, member.username, "pw-member")
        visit(committee_pages, "committee")
        _logout(page, base)
        _login(page, base, curator.username, "pw-cur")
        visit(staff_pages, "curator")
        # The wiki preview renders the payload through the same sanitizer.
        page.goto(f"{base}/collections/{collection.slug}/pages/overview/edit/")
        page.get_by_role("button", name="Preview").click()
        page.wait_for_load_state()
        if page.evaluate(DOM_PROBE):
            failures.append("curator wiki preview: payload became markup")
        _logout(page, base)
        _login(page, base, admin.username, "pw-boss")
        visit(admin_pages, "admin")

        assert Collection.objects.filter(pk=collection.pk, status="published").exists()
        problems = failures + [f"dialog: {d}" for d in watch.dialogs] + [f"console: {c}" for c in watch.console]
        assert not problems, "\n".join(problems)
