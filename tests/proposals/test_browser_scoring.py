"""A committee member scores a proposal in a real browser (Debian's Chromium driven by Playwright).

They log in, open the board, open a submitted proposal another member has scored already, find
that score hidden, score it with the keyboard and mouse, and then see the other score and the
weighted mean. The board is saved as docs/screenshots/proposals-board.png for the README.
"""

import pytest

from tests.browser import open_page, require_browser, screenshot_dir

sync_api = require_browser()

from proposals import services  # noqa: E402
from proposals.models import ScoreWeights  # noqa: E402

from .conftest import PASSWORD, make_user  # noqa: E402



@pytest.fixture
def browser_page():
    with open_page(sync_api, 1280, 900, 15000) as page:
        yield page


# No serialized_rollback: it collides with content types recreated by earlier transactional tests;
# pytest-django runs transactional tests last, and the fixtures create the groups they need.
@pytest.mark.django_db(transaction=True)
def test_committee_member_scores_a_proposal(live_server, browser_page, ct, mr, lung, tmp_path_factory):
    SCREENSHOT = screenshot_dir(tmp_path_factory) / "proposals-board.png"
    from .conftest import complete_fields

    owner = make_user("lab-pi", "submitter")
    member = make_user("reviewer", "committee")
    other = make_user("colleague", "committee")
    make_user("chair", "committee", "committee_chair")
    ScoreWeights.objects.create(data_quality=2, scientific_value=1, reuse_potential=1)

    def filed(title, modalities, **over):
        p = services.save_draft(submitter=owner, fields=complete_fields(title, **over), anatomic_sites=[lung],
                                modalities=modalities)
        return services.submit(proposal=p, actor=owner)

    target = filed("Lung CT screening cohort", [ct])
    filed("Glioma MR with follow-up", [mr], cancer_type="Glioblastoma")
    earlier = filed("Head and neck CT/RTSTRUCT", [ct], cancer_type="Head and Neck Cancer")
    services.score(proposal=target, member=other, data_quality=2, scientific_value=3, reuse_potential=4,
                   comment="COLLEAGUE-SAYS: protocol varies between sites.")
    services.score(proposal=earlier, member=member, data_quality=3, scientific_value=4, reuse_potential=2)

    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/?next=/proposals/board/")
    page.get_by_label("Username").fill(member.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/proposals/board/")

    to_review = page.locator("#to-review")
    assert to_review.get_by_role("link", name="Lung CT screening cohort", exact=True).is_visible()
    to_review.get_by_role("link", name="Score Lung CT screening cohort").click()
    page.wait_for_url(f"**/proposals/{target.pk}/score/")

    # Before scoring: the colleague's score and the mean are hidden, only the count is shown.
    assert page.locator("#scores-hidden").is_visible()
    assert "1 member has scored" in page.locator("#scores-hidden").inner_text()
    assert "COLLEAGUE-SAYS" not in page.content()
    assert page.locator("#weighted-mean").count() == 0

    page.get_by_role("group", name="Data quality").get_by_label("5 – excellent").check()
    page.get_by_role("group", name="Scientific value").get_by_label("4 – very good").check()
    # Keyboard: focus the third group's first radio and move with the arrow keys.
    reuse = page.get_by_role("group", name="Potential for reuse")
    reuse.get_by_label("1 – poor").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert reuse.get_by_label("3 – good").is_checked()
    page.get_by_label("Comment").fill("Clean protocol; follow-up makes it valuable.")
    page.get_by_role("button", name="Submit score").click()
    page.wait_for_url(f"**/proposals/{target.pk}/score/")

    # After scoring: weights 2/1/1; colleague (2·2+3+4)/4 = 2.75, mine (2·5+4+3)/4 = 4.25, mean 3.50.
    assert "Score recorded." in page.locator(".messages").inner_text()
    assert page.locator("#weighted-mean").inner_text() == "3.50"
    others = page.locator("#other-scores")
    assert "colleague" in others.inner_text() and "COLLEAGUE-SAYS" in others.inner_text()
    assert "2.75" in others.inner_text()

    page.goto(f"{live_server.url}/proposals/board/")
    ranking = page.locator("#ranking")
    rows = ranking.locator("tbody tr")
    assert rows.count() == 2
    assert "Lung CT screening cohort" in rows.nth(0).inner_text() and "3.50" in rows.nth(0).inner_text()
    assert "Head and neck" in rows.nth(1).inner_text()
    assert page.locator("#to-review").get_by_role("link", name="Glioma MR with follow-up", exact=True).is_visible()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
