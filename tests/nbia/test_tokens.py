"""POST /nbia-api/oauth/token and what a token unlocks for limited-access collections."""
import datetime as dt
import io
import zipfile

import pytest
from django.utils import timezone

from collections_app.access import accept_agreement
from collections_app.models import Series
from nbia.models import ApiToken
from nbia.tokens import digest
from tests.nbia.conftest import V4

pytestmark = pytest.mark.django_db
TOKEN_URL = "/nbia-api/oauth/token"


def get_token(client, username="reader", password="pw-reader"):
    return client.post(TOKEN_URL, {"grant_type": "password", "username": username, "password": password,
                                   "client_id": "nbiaRestAPIClient"})


def test_password_grant_shape_and_hashed_storage(client, reader):
    response = get_token(client)
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in", "scope"}
    assert data["token_type"] == "Bearer" and data["expires_in"] == 7200
    stored = ApiToken.objects.get(user=reader)
    assert stored.access_digest == digest(data["access_token"]) and data["access_token"] not in stored.access_digest


def test_bad_credentials_and_grant(client, reader):
    assert get_token(client, password="wrong").status_code == 401
    assert get_token(client, password="wrong").json()["error"] == "invalid_grant"
    assert client.post(TOKEN_URL, {"grant_type": "client_credentials"}).json()["error"] == "unsupported_grant_type"
    assert client.get(TOKEN_URL).status_code == 405


def test_refresh_rotates_tokens(client, reader):
    first = get_token(client).json()
    refreshed = client.post(TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["access_token"] != first["access_token"]
    # the old refresh token is single-use and the old access token stops working
    again = client.post(TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert again.status_code == 400
    assert client.get(V4 + "getCollectionValues", HTTP_AUTHORIZATION="Bearer " + first["access_token"]).status_code == 401
    assert client.get(V4 + "getCollectionValues", HTTP_AUTHORIZATION="Bearer " + second["access_token"]).status_code == 200


def test_expired_and_unknown_tokens_are_401(client, reader, archive):
    token = get_token(client).json()["access_token"]
    ApiToken.objects.update(access_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(V4 + "getSeries", HTTP_AUTHORIZATION="Bearer " + token).status_code == 401
    assert client.get(V4 + "getSeries", HTTP_AUTHORIZATION="Bearer nonsense").status_code == 401


def test_guest_token(client, archive):
    data = get_token(client, username="nbia_guest", password="").json()
    response = client.get(V4 + "getCollectionValues", HTTP_AUTHORIZATION="Bearer " + data["access_token"])
    assert response.status_code == 200


def test_limited_collection_needs_token_and_agreement(client, reader, archive):
    public, limited = archive
    uid = Series.objects.filter(collection=limited).first().series_instance_uid
    token = get_token(client).json()["access_token"]
    auth = {"HTTP_AUTHORIZATION": "Bearer " + token}
    # logged in but the data use agreement is not accepted: still refused, no rows
    assert client.get(V4 + "getImage", {"SeriesInstanceUID": uid}, **auth).status_code == 400
    assert client.get(V4 + "getSeries", {"Collection": limited.short_name}, **auth).content == b""
    accept_agreement(user=reader, collection=limited)
    rows = client.get(V4 + "getSeries", {"Collection": limited.short_name}, **auth).json()
    assert rows[0]["Authorized"] == 1
    response = client.get(V4 + "getImage", {"SeriesInstanceUID": uid, "NewFileNames": "Yes"}, **auth)
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert names[0] == "LICENSE" and len(names) == 3
    # without the token the same request is refused again
    assert client.get(V4 + "getImage", {"SeriesInstanceUID": uid}).status_code == 400
