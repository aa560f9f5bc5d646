"""Password guessing is stopped: failed logins on the login form, the admin login and the token
endpoint are counted per account and per client address; at the limit even the right password
is refused, with a message, until an admin lifts the lock. Throttles count the real client
address, not a forged X-Forwarded-For, and cover the NBIA API."""
import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from tests.conftest import make_user

pytestmark = pytest.mark.django_db

LIMIT = 5
TOKEN = "/nbia-api/oauth/token"


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def victim(db):
    return make_user("victim")  # password "pw-victim"


def login_form(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def admin_login(client, username, password, **extra):
    return client.post(reverse("admin:login"), {"username": username, "password": password}, **extra)


def token(client, username, password, **extra):
    return client.post(TOKEN, {"grant_type": "password", "username": username, "password": password,
                               "client_id": "nbiaRestAPIClient"}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("attempt, ok_status", [(login_form, 302), (admin_login, 302), (token, 200)])
def test_thirty_wrong_passwords_lock_the_account_even_for_the_right_one(client, victim, attempt, ok_status):
    victim.is_staff = True  # so that the admin login would accept the right password
    victim.save()
    codes = [attempt(client, "victim", f"guess-{i}").status_code for i in range(30)]
    assert 429 in codes and codes.index(429) <= LIMIT  # locked at the limit, not after thirty
    assert set(codes[LIMIT:]) == {429}
    right = attempt(Client(), "victim", "pw-victim")  # another client, the right password
    assert right.status_code == 429
    assert not logged_in(client)
    text = right.content.decode()
    assert "Too many failed logins" in text or "too_many_attempts" in text
    assert int(right["Retry-After"]) > 0
    # Before the limit the right password works at once.
    AccessAttempt.objects.all().delete()
    assert attempt(Client(), "victim", "pw-victim").status_code == ok_status


def test_one_client_guessing_many_accounts_is_locked_out(client, victim):
    for i in range(LIMIT):
        login_form(client, f"someone-{i}", "guess", REMOTE_ADDR="198.51.100.7")
    # The same address is now refused for every account, even with a right password...
    assert login_form(client, "victim", "pw-victim", REMOTE_ADDR="198.51.100.7").status_code == 429
    # ...while the account itself is not locked for others.
    other = Client()
    assert login_form(other, "victim", "pw-victim", REMOTE_ADDR="203.0.113.9").status_code == 302


def test_forged_forwarded_for_does_not_reset_the_count(client, victim):
    codes = [login_form(client, f"user-{i}", "guess", HTTP_X_FORWARDED_FOR=f"10.9.{i}.1").status_code
             for i in range(LIMIT + 2)]
    assert codes[-1] == 429  # every attempt counted against the real peer, 127.0.0.1


def test_admin_unlocks_an_account(client, victim):
    for i in range(LIMIT + 1):
        login_form(client, "victim", f"guess-{i}")
    assert login_form(Client(), "victim", "pw-victim").status_code == 429
    admin = make_user("boss", is_staff=True, is_superuser=True)
    staff = Client()
    staff.force_login(admin)
    changelist = staff.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200 and "victim" in changelist.content.decode()
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    staff.post(reverse("admin:axes_accessattempt_changelist"),
               {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert not AccessAttempt.objects.exists()
    fresh = Client()
    assert login_form(fresh, "victim", "pw-victim").status_code == 302 and logged_in(fresh)


def test_password_reset_does_not_reveal_accounts(client, victim, mailoutbox):
    victim.email = "victim@lab.example"
    victim.save()
    known = client.post(reverse("password_reset"), {"email": "victim@lab.example"})
    unknown = client.post(reverse("password_reset"), {"email": "nobody@lab.example"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("password_reset_done")
    assert [m.to for m in mailoutbox] == [["victim@lab.example"]]
    link = next(line for line in mailoutbox[0].body.splitlines() if "/accounts/password-reset/" in line)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "New password" in form.content.decode()


# Throttles ------------------------------------------------------------------------------------


def test_rest_throttle_ignores_forged_forwarded_for(client, settings):
    settings.TCIA_API_ANON_RATE = "3/minute"
    codes = [client.get("/api/collections/", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_trusted_proxy_forwarded_address_is_the_client(client, settings):
    settings.TCIA_API_ANON_RATE = "2/minute"
    settings.TCIA_TRUSTED_PROXIES = ["127.0.0.0/8"]
    # Behind the trusted proxy, two real clients have a budget each...
    a = [client.get("/api/collections/", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code for _ in range(3)]
    b = [client.get("/api/collections/", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code for _ in range(2)]
    assert a == [200, 200, 429] and b == [200, 200]
    # ...and a client cannot prepend an address of its choice: the right-most untrusted hop counts.
    c = client.get("/api/collections/", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.1").status_code
    assert c == 429


def test_nbia_endpoints_are_throttled_like_the_rest_api(client, settings):
    settings.TCIA_API_ANON_RATE = "3/minute"
    url = "/nbia-api/services/v4/getCollectionValues"
    codes = [client.get(url, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    refused = client.get(url)
    assert "Too many requests" in refused.content.decode() and int(refused["Retry-After"]) > 0
    assert token(client, "nobody", "x").status_code == 429  # the token endpoint shares the budget
