"""Label-only migrations: one step, no SQL, and a change the database sees is refused."""

from __future__ import annotations

import pytest
from django.db import connection, migrations, models
from django.db.migrations.state import ModelState, ProjectState
from django.test.utils import CaptureQueriesContext

from scoring.migration_operations import AlterFieldLabels, LabelChangeError

pytestmark = pytest.mark.django_db


def project_state() -> ProjectState:
    state = ProjectState()
    state.add_model(
        ModelState(
            "scoring",
            "Gadget",
            [
                ("id", models.AutoField(primary_key=True)),
                ("name", models.CharField(max_length=40)),
                ("size", models.IntegerField(default=0)),
            ],
        )
    )
    return state


def apply(operation: AlterFieldLabels, before: ProjectState) -> tuple[ProjectState, list[str]]:
    after = before.clone()
    operation.state_forwards("scoring", after)
    with CaptureQueriesContext(connection) as queries:
        operation.database_forwards("scoring", connection.schema_editor(), before, after)
    return after, [query["sql"] for query in queries.captured_queries]


def test_labels_change_in_the_state_in_one_step_without_sql() -> None:
    before = project_state()
    before.apps  # rendered, as during migrate  # noqa: B018
    operation = AlterFieldLabels(
        migrations.AlterField("gadget", "name", models.CharField(max_length=40, verbose_name="nombre")),
        migrations.AlterField("gadget", "size", models.IntegerField(default=0, help_text="cm", verbose_name="size")),
    )
    after, sql = apply(operation, before)
    assert sql == []
    fields = after.models["scoring", "gadget"].fields
    assert fields["name"].verbose_name == "nombre"
    assert fields["size"].help_text == "cm"
    # The rendered models follow the state: what a later data migration would see.
    assert after.apps.get_model("scoring", "Gadget")._meta.get_field("name").verbose_name == "nombre"
    assert before.models["scoring", "gadget"].fields["name"].verbose_name is None
    assert operation.describe() == "Change the labels of 2 fields"


def test_a_change_the_database_sees_is_refused_naming_the_field() -> None:
    operation = AlterFieldLabels(
        migrations.AlterField("gadget", "name", models.CharField(max_length=80, verbose_name="name")),
    )
    with pytest.raises(LabelChangeError, match=r"scoring\.gadget\.name: AlterFieldLabels may change only"):
        apply(operation, project_state())
