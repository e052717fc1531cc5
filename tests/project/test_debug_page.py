"""Django's debug page (and the error emails built like it) never shows a URL's credentials."""

from __future__ import annotations

import secrets
import sys
from urllib.parse import quote

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.views.debug import technical_500_response
from hypothesis import given
from hypothesis import strategies as st
from pytest_django.fixtures import Settings as SettingsWrapper

from project.debug import CredentialsFilter

# Made afresh: the page also shows this file's source lines, which must not give them away.
BROKER_PASSWORD = f"broker-{secrets.token_hex(8)}"
DATABASE_PASSWORD = f"database-{secrets.token_hex(8)}"
CRM_TOKEN = f"crm-{secrets.token_hex(8)}"
BROKER_URL = f"redis://:{BROKER_PASSWORD}@redis.internal:6379/0"
DATABASE_URL = f"postgres://leadflow:{DATABASE_PASSWORD}@db.internal:5432/leadflow"
CRM_URL = f"https://{CRM_TOKEN}@crm.example/hooks"


def _fail() -> None:
    raise RuntimeError("something broke")


def debug_page(accept: str) -> str:
    # The process environment reaches request.META under runserver and most WSGI servers.
    request = RequestFactory().get("/admin/", HTTP_ACCEPT=accept, DATABASE_URL=DATABASE_URL)
    try:
        _fail()
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())
    assert isinstance(response, HttpResponse)
    assert response.status_code == 500
    return response.content.decode()


@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_the_debug_page_hides_urls_with_credentials_in_settings_and_request_meta(
    settings: SettingsWrapper, accept: str
) -> None:
    settings.CELERY_BROKER_URL = BROKER_URL
    settings.LEADFLOW_CRM_URL = CRM_URL
    settings.LEADFLOW_FAILOVER = [BROKER_URL, {"nested": DATABASE_URL}]
    page = debug_page(accept)
    for secret in (BROKER_PASSWORD, DATABASE_PASSWORD, CRM_TOKEN):
        assert secret not in page
    assert "CELERY_BROKER_URL" in page  # the setting is listed, its value hidden
    assert "DATABASE_URL" in page
    # A URL without credentials is still shown: the page stays useful.
    assert settings.LEADFLOW_PUBLIC_URL in page


_userinfo = st.text(min_size=1, max_size=30)


@given(user=st.text(max_size=30), password=_userinfo, scheme=st.sampled_from(["redis", "rediss", "postgres", "amqp"]))
def test_any_password_in_a_url_is_hidden_whatever_the_setting_is_called(user: str, password: str, scheme: str) -> None:
    url = f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@host.example:1/x"
    hidden = CredentialsFilter.cleansed_substitute
    cleansed = CredentialsFilter().cleanse_setting("ANYTHING", {"list": [url], "tuple": (url,), "plain": url})
    assert cleansed == {"list": [hidden], "tuple": (hidden,), "plain": hidden}


@given(path=st.text(alphabet=st.characters(blacklist_characters="@", blacklist_categories=["Cs"]), max_size=40))
def test_a_url_without_credentials_is_shown_as_it_is(path: str) -> None:
    url = f"https://leadflow.example/{quote(path)}"
    assert CredentialsFilter().cleanse_setting("LEADFLOW_PUBLIC_URL", url) == url
