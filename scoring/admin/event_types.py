"""Event types in the admin: every type seen or declared, how often and when it was
seen, the rules that score it, and the Segment event names that record it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scoring import event_types as types
from scoring import selectors
from scoring.admin.figures import GroupedFiguresAdmin
from scoring.models import EventType, SegmentEvent


class SegmentEventInline(admin.TabularInline[SegmentEvent, EventType]):
    model = SegmentEvent
    fields = ["name"]
    extra = 1
    verbose_name_plural = _("Segment event names recording this type")


class EventTypeForm(forms.ModelForm[EventType]):
    class Meta:
        model = EventType
        fields = ["key", "label"]

    def clean_label(self) -> str:
        label = str(self.cleaned_data.get("label") or "").strip()
        key = self.cleaned_data.get("key") or self.instance.key
        if label and key in types.BUILT_IN:
            raise forms.ValidationError(
                gettext("{key} is built in, its label is '{label}'.").format(key=key, label=types.BUILT_IN[key])
            )
        return label


@admin.register(EventType)
class EventTypeAdmin(GroupedFiguresAdmin[EventType]):
    form = EventTypeForm
    inlines = [SegmentEventInline]
    # With the rules scoring each type and its Segment names (get_list_display).
    list_display = ["key", "words", "origin", "seen_count", "first_seen_at", "last_seen_at"]
    list_display_links = ["key"]
    search_fields = ["key", "label", "segment_events__name"]
    list_filter = ["declared"]
    ordering = ["-seen_count", "key"]
    readonly_fields = ["seen_count", "first_seen_at", "last_seen_at"]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        rules: dict[str, list[str]] | None = None  # read once per page, when the first row needs them
        names: dict[str, list[str]] | None = None

        @admin.display(description=_("Rules scoring it"))
        def rules_using(obj: EventType) -> str:
            nonlocal rules
            if rules is None:
                rules = selectors.rules_by_type()
            return ", ".join(rules.get(obj.key, [])) or "—"

        @admin.display(description=_("Segment event names"))
        def segment_names(obj: EventType) -> str:
            nonlocal names
            if names is None:
                names = selectors.segment_event_names()
            return ", ".join(names.get(obj.key, [])) or "—"

        return [*super().get_list_display(request), rules_using, segment_names]

    def get_readonly_fields(self, request: HttpRequest, obj: EventType | None = None) -> list[str]:
        fixed = ["key"] if obj is not None else []
        if obj is not None and obj.built_in:
            fixed.append("label")
        return [*fixed, *self.readonly_fields]

    @admin.display(description=_("label"))
    def words(self, obj: EventType) -> str:
        return obj.words

    @admin.display(description=_("origin"))
    def origin(self, obj: EventType) -> str:
        if obj.built_in:
            return gettext("built in")
        return gettext("declared") if obj.declared else gettext("seen")

    def save_model(self, request: HttpRequest, obj: EventType, form: forms.ModelForm[EventType], change: bool) -> None:
        # Named here by a person: declared, like a type in the model file.
        obj.declared = not obj.built_in
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: EventType | None = None) -> bool:
        # Built-in types stay; a type interactions have is counted, so its row stays too.
        if obj is not None and (obj.built_in or obj.seen_count):
            return False
        return super().has_delete_permission(request, obj)
