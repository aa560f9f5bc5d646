"""The PHI report page a curator can finish: grouped by tag path with per-tag pages, and one
definition of "value row" behind every count (page, tags, CSV, sign-off)."""
import csv
import io
import re

import pytest

from curation.phi import report, views
from curation.phi.models import PhiValue
from curation.phi.services import mark, sign_off
from tests.checks.builders import ingest, make_submission, series

pytestmark = pytest.mark.django_db


@pytest.fixture
def submission():
    s = make_submission(slug="phi-page", prefix="PHP")
    data = [d for d, _ in series("PAT-A", "s1", "a1", images=4, series_description="Chest")]
    data += [d for d, _ in series("PAT-B", "s2", "b1", images=3, series_number=2, series_description="Pelvis")]
    for n, ds in enumerate(data):
        ds.ImageComments = f"comment {n}"  # one tag with seven values
    ingest(s, data)
    return s


def _all_group_pages(client, url):
    """Every tag group of every page: {tag path: (count shown, values listed on the group page)}."""
    groups, pages = {}, 0
    while url:
        html = client.get(url).content.decode()
        pages += 1
        for tag, count in re.findall(r'<h2 id="g\d+" class="phi-tag"><code>([^<]+)</code>.*?data-tag-count="(\d+)"', html):
            assert tag not in groups, f"{tag} on two pages"
            groups[tag] = int(count)
        nxt = re.search(r'href="([^"]+)" rel="next"', html)
        url = (url.split("?")[0] + nxt.group(1).replace("&amp;", "&")) if nxt else None
    return groups, pages


def test_every_count_of_the_page_is_the_value_row_count(submission, curator, curator_client, monkeypatch):
    monkeypatch.setattr(views, "GROUPS_PER_PAGE", 7)
    c = submission.collection
    truth = PhiValue.objects.filter(collection=c, present=True, own_uid=False).count()
    own = PhiValue.objects.filter(collection=c, present=True, own_uid=True).count()
    assert truth and own  # our own UIDs exist and are not value rows
    url = f"/curation/phi/{c.slug}/"
    html = curator_client.get(url).content.decode()
    assert f'data-value-rows="{truth}"' in html
    shown_own = curator_client.get(url + "?own=1").content.decode()
    assert f"All {truth} value rows, and {own} UIDs of our own (not value rows)" in shown_own
    groups, pages = _all_group_pages(curator_client, url)
    assert pages > 1 and sum(groups.values()) == truth
    exported = list(csv.reader(io.StringIO(b"".join(curator_client.get(f"{url}export.csv").streaming_content).decode())))
    assert len(exported) - 1 == truth
    signoff = sign_off(collection=c, actor=curator)
    assert signoff.rows == truth
    html = curator_client.get(url).content.decode()
    assert f"<span data-signed-rows>{truth}</span>" in html and f"reviewed all {truth} value rows" in html


def test_groups_show_a_few_values_and_a_tag_has_its_own_pages(submission, curator_client, monkeypatch):
    monkeypatch.setattr(views, "ROWS_PER_TAG", 3)
    monkeypatch.setattr(views, "ROWS_PER_PAGE", 4)
    c = submission.collection
    url = f"/curation/phi/{c.slug}/"
    html = curator_client.get(url + "?tag=ImageComments").content.decode()
    group = re.search(r'<code>\(0020,4000\)</code>.*?</section>', html, re.S).group(0)
    assert group.count("data-phi-row") == 3 and 'data-tag-count="7"' in group
    link = re.search(r'href="(\?[^"]*path=[^"]+)">all 7', group).group(1).replace("&amp;", "&")
    seen, page_url = [], url + link
    while page_url:
        html = curator_client.get(page_url).content.decode()
        seen += re.findall(r"&lt;(comment \d+)&gt;", html)
        nxt = re.search(r'href="([^"]+)" rel="next"', html)
        page_url = url + nxt.group(1).replace("&amp;", "&") if nxt else None
    assert sorted(seen) == sorted(f"comment {n}" for n in range(7))


def test_the_mark_bar_and_keys_are_on_the_page(submission, curator_client):
    html = curator_client.get(f"/curation/phi/{submission.collection.slug}/").content.decode()
    bar = re.search(r'<div class="phi-bar".*?</div>\s*</form>', html, re.S).group(0)
    assert 'name="action"' in bar and 'form="phi-apply"' in bar
    assert 'disabled aria-disabled="true"' in bar  # nothing marked: Apply 0 dispositions is disabled
    assert "js/phi.js" in html


def test_pending_and_sign_off_exclude_our_own_uids(submission, curator):
    c = submission.collection
    own = PhiValue.objects.filter(collection=c, present=True, own_uid=True).first()
    mine = PhiValue.objects.filter(collection=c, present=True, own_uid=False, tag_path="(0008,103E)").first()
    mark(values=[own, mine], action="remove", actor=curator)
    from curation.phi.services import pending_marks

    assert list(pending_marks(c)) == [mine]
    assert report.digest(c)[1] == report.value_rows(c).count()


def test_the_tag_filter_takes_a_path_prefix_or_a_keyword_in_any_case(submission):
    c = submission.collection
    by_prefix = set(report.filtered(c, tag="(0010,").values_list("tag_path", flat=True))
    assert by_prefix and all(t.startswith("(0010,") for t in by_prefix)
    everything = set(report.filtered(c).values_list("tag_path", flat=True))
    assert by_prefix == {t for t in everything if t.startswith("(0010,")}
    assert set(report.filtered(c, tag="seriesdescription").values_list("tag_path", flat=True)) == {"(0008,103E)"}
    assert set(report.filtered(c, tag="(0008,103").values_list("tag_path", flat=True)) == {
        t for t in everything if t.startswith("(0008,103")}
