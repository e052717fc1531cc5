"""The admin's ``_to_field`` parameter (what a related-object popup asks a list to return)
naming a relation instead of a column: a refusal, never a server error."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client


def relation_names() -> list[tuple[str, str]]:
    """(admin list URL, relation name) for every relation of every model in the admin."""
    pairs = []
    for model, _ in admin.site._registry.items():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for field in model._meta.get_fields(include_hidden=True):
            if field.is_relation and not field.concrete:
                pairs.append((url, field.name))
    return pairs


@pytest.mark.django_db
def test_a_relation_named_as_the_field_to_return_is_refused_on_every_admin_page() -> None:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    pairs = relation_names()
    assert ("/admin/auth/group/", "user") in pairs  # User.groups seen from the group
    failing = []
    for url, name in pairs:
        for page in (url, f"{url}add/"):
            response = client.get(page, {"_to_field": name, "_popup": "1"})
            if response.status_code != 400:
                failing.append((page, name, response.status_code))
    assert failing == []


@pytest.mark.django_db
def test_a_column_still_works_as_the_field_to_return(client: Client) -> None:
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.get("/admin/auth/group/", {"_to_field": "id", "_popup": "1"})
    assert response.status_code == 200
