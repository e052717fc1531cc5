"""Marketing's MQL targets in the admin: one row per month, the month typed as YYYY-MM."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from reports.models import MqlTarget
from scoring.admin.figures import GroupedFiguresAdmin

_MONTH = re.compile(r"(\d{4})-(\d{2})(-\d{2})?")


class MonthField(forms.Field):
    """A month as YYYY-MM (what a browser's month input sends; a full date is taken as
    its month), kept as the month's first day."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"})
    default_error_messages = {"invalid": "Write the month as YYYY-MM, e.g. 2026-12."}

    def to_python(self, value: Any) -> date | None:
        if isinstance(value, date):
            return value.replace(day=1)
        text = str(value or "").strip()
        if not text:
            return None
        found = _MONTH.fullmatch(text)
        if found is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            return date(int(found[1]), int(found[2]), 1)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None

    def prepare_value(self, value: Any) -> Any:
        return f"{value:%Y-%m}" if isinstance(value, date) else value


class MqlTargetForm(forms.ModelForm[MqlTarget]):
    month = MonthField(help_text=_("The month, e.g. 2026-12."))

    class Meta:
        model = MqlTarget
        fields = ["month", "target"]


@admin.register(MqlTarget)
class MqlTargetAdmin(GroupedFiguresAdmin[MqlTarget]):
    form = MqlTargetForm
    list_display = ["month_shown", "target"]
    ordering = ["-month"]

    @admin.display(description=_("Month"), ordering="month")
    def month_shown(self, target: MqlTarget) -> str:
        return f"{target.month:%Y-%m}"
