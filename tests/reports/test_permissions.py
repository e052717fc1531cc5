"""Who may read the reports: Marketing and sales managers; reps do not."""

import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("group", "reads"), [("Marketing", True), ("Sales managers", True), ("Sales", False)])
def test_report_readers(group: str, reads: bool) -> None:
    permissions = Group.objects.get(name=group).permissions.filter(content_type__app_label="reports")
    codenames = set(permissions.values_list("codename", flat=True))
    assert ("view_reports" in codenames) is reads


@pytest.mark.parametrize(
    ("group", "codenames"),
    [
        ("Marketing", {"add_mqltarget", "change_mqltarget", "delete_mqltarget", "view_mqltarget"}),
        ("Sales managers", {"view_mqltarget"}),
        ("Sales", set()),
    ],
)
def test_marketing_sets_the_mql_targets_and_sales_managers_read_them(group: str, codenames: set[str]) -> None:
    permissions = Group.objects.get(name=group).permissions.filter(codename__endswith="_mqltarget")
    assert set(permissions.values_list("codename", flat=True)) == codenames
