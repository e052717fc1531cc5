"""A migration operation for changes the database never sees.

When every field of the product was given a translatable label, makemigrations wrote one
``AlterField`` per field: several hundred. Each ``AlterField`` copies the whole migration state
and renders the models again, so those label-only migrations took most of the time of every
``migrate``: a first run, each test database, each test that migrates back and forth. Wrapped in
:class:`AlterFieldLabels`, the same fields change in one step that copies the state once and
writes no SQL, and the state they leave is the same.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.models import Field

# What a field may change here: what the database never sees (Django's own list, but the column
# name, which the database does see).
LABEL_ATTRIBUTES = frozenset(Field.non_db_attrs) - {"db_column"}


class LabelChangeError(ValueError):
    """An AlterFieldLabels changes more than labels: it must be a plain AlterField."""


def _without_labels(field: Field[Any, Any]) -> tuple[str, dict[str, Any]]:
    """What the database sees of a field: its class and its arguments but the labels."""
    _, path, args, kwargs = field.deconstruct()
    assert not args
    return path, {
        # A field inside a field (a generated column's output field) compares by what it is:
        # fields as such compare by their creation order.
        key: _without_labels(value) if isinstance(value, Field) else value
        for key, value in kwargs.items()
        if key not in LABEL_ATTRIBUTES
    }


class AlterFieldLabels(Operation):
    """Apply ``AlterField`` operations that change only labels (verbose names, help texts,
    choices' words, validators: nothing the database sees), as one step with no SQL.

    Applying it checks that each field differs from the one before only in those attributes,
    and refuses otherwise: a change the database must see cannot hide in here.
    """

    reversible = True
    reduces_to_sql = True  # there is nothing to write

    def __init__(self, *operations: migrations.AlterField) -> None:
        self.operations = operations

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, list(self.operations), {}

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        # Each AlterField renders its model again when the state's models are rendered; set
        # the rendered models aside while the fields change, then render the changed models
        # and the ones related to them once.
        rendered = state.__dict__.pop("apps", None)
        for operation in self.operations:
            operation.state_forwards(app_label, state)
        if rendered is not None:
            state.__dict__["apps"] = rendered
            touched = {(app_label, operation.model_name_lower) for operation in self.operations}
            state.reload_models(sorted(touched), delay=False)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        self._check_labels_only(app_label, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        self._check_labels_only(app_label, to_state, from_state)

    def _check_labels_only(self, app_label: str, before: ProjectState, after: ProjectState) -> None:
        for operation in self.operations:
            key = (app_label, operation.model_name_lower)
            old = before.models[key].fields[operation.name]
            new = after.models[key].fields[operation.name]
            if _without_labels(old) != _without_labels(new):
                raise LabelChangeError(
                    f"{app_label}.{operation.model_name}.{operation.name}: AlterFieldLabels may change only "
                    f"what the database never sees; make this change a plain AlterField"
                )

    def describe(self) -> str:
        return f"Change the labels of {len(self.operations)} fields"

    @property
    def migration_name_fragment(self) -> str:
        return "field_labels"
