"""Leadflow's admin site: Django's, refusing a relation named as the field a list returns.

A related-object popup asks a list for its rows' values of one field (``?_to_field=``).
Django's check of that name (``ModelAdmin.to_field_allowed``) fails with an error on a
relation seen from the other side (``/admin/auth/group/?_to_field=user``): a reverse
relation has no column to return. Every model admin's views are refused such a name here, as
Django refuses a column it does not allow, before the check runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminToField
from django.contrib.admin.options import TO_FIELD_VAR, BaseModelAdmin
from django.core.exceptions import FieldDoesNotExist
from django.db.models import ForeignObjectRel
from django.http import HttpRequest, HttpResponseBase

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def _refusing_relations(model_admin: BaseModelAdmin[Any], view: View) -> View:
    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
        if to_field:
            try:
                field = model_admin.opts.get_field(to_field)
            except FieldDoesNotExist:
                field = None  # Django's own check refuses it
            if isinstance(field, ForeignObjectRel):
                raise DisallowedModelAdminToField(f"The field {to_field} cannot be referenced.")
        return view(request, *args, **kwargs)

    return cast(View, checked)


class LeadflowAdminSite(admin.AdminSite):
    def admin_view(self, view: View, cacheable: bool = False) -> View:
        model_admin = getattr(view, "__self__", None)
        if isinstance(model_admin, BaseModelAdmin):
            view = _refusing_relations(model_admin, view)
        return super().admin_view(view, cacheable)
