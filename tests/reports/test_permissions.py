"""Who may read the reports: Marketing and sales managers; reps do not."""

import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("group", "reads"), [("Marketing", True), ("Sales managers", True), ("Sales", False)])
def test_report_readers(group: str, reads: bool) -> None:
    codenames = set(
        Group.objects.get(name=group)
        .permissions.filter(content_type__app_label="reports")
        .values_list("codename", flat=True)
    )
    assert ("view_reports" in codenames) is reads
