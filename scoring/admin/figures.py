"""An admin list's figures grouped as every other page writes them ("1.234" in Spanish).

Django's admin writes a number column by ``USE_THOUSAND_SEPARATOR``, which Leadflow
leaves off: on, every ``{{ number }}`` of every template is grouped, ids in links and
forms too. A list's number columns go through :func:`scoring.localized.number` instead,
keeping the field's heading, sorting and cell class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse

from scoring import localized

NUMBERS = (models.IntegerField, models.FloatField, models.DecimalField)

_M = TypeVar("_M", bound=models.Model)


class GroupedFiguresAdmin(admin.ModelAdmin[_M]):
    """A list whose columns of numbers (a model's numeric fields without choices) read
    grouped in the reader's language."""

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # A link's column and an editable one (its input is drawn for the field's name) stay as they are.
        kept = {*(self.list_display_links or ()), *self.list_editable}
        return [
            name if not isinstance(name, str) or name in kept else self._grouped(name) or name
            for name in super().get_list_display(request)
        ]

    def get_sortable_by(self, request: HttpRequest) -> Any:
        # Columns named sortable stay so once grouped: Django compares the list's entries.
        sortable = super().get_sortable_by(request)
        if self.sortable_by is None:
            return sortable
        return [*sortable, *(column for name in sortable if isinstance(name, str) and (column := self._grouped(name)))]

    def _grouped(self, name: str) -> Callable[[Any], Any] | None:
        # One column per field for the admin's life: Django finds the sortable columns by
        # looking the list's entries up in a list made by a second call.
        columns: dict[str, Callable[[Any], Any] | None] = self.__dict__.setdefault("_grouped_columns", {})
        if name not in columns:
            columns[name] = self._column(name)
        return columns[name]

    def _column(self, name: str) -> Callable[[Any], Any] | None:
        field = next((f for f in self.model._meta.concrete_fields if f.name == name), None)
        # A generated column (a lead's total score) is a number by what it holds.
        held = field.output_field if isinstance(field, models.GeneratedField) else field
        if field is None or not isinstance(held, NUMBERS) or field.primary_key or field.choices:
            return None
        decimals = held.decimal_places if isinstance(held, models.DecimalField) else None

        @admin.display(description=field.verbose_name, ordering=name)
        def column(obj: models.Model) -> str | None:
            value = getattr(obj, name)
            return None if value is None else localized.number(value, decimals)

        column.__name__ = name  # the cell's class stays "field-<name>"
        return column


class SavedHoldingALock(GroupedFiguresAdmin[_M]):
    """A change form whose checks and save run holding :meth:`save_lock` until they commit:
    two marketers saving at once each passed a check that holds for the rows together (the
    rules' points within the score's column) alone."""

    def save_lock(self) -> None:
        raise NotImplementedError

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        with transaction.atomic():
            self.save_lock()
            return super().changeform_view(request, object_id, form_url, extra_context)
