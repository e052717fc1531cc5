"""The admin of what comes in: API keys (issued once, revoked, never edited) and the
web forms whose posts are recorded."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from intake import tracking
from intake.api_keys import api_key_issue, api_key_revoke
from intake.models import ApiKey, ApiScope, TrackedForm, default_api_scopes
from scoring import services as scoring
from scoring.models import AttributeName


class ApiKeyForm(forms.ModelForm[ApiKey]):
    """Scopes as checkboxes with their labels; a new key starts with sending events only."""

    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=default_api_scopes,
        help_text=_(
            "What the key may do; a request outside them gets 403. A key used in web pages may only send events."
        ),
    )

    class Meta:
        model = ApiKey
        fields = ["name", "public", "scopes"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("public") and cleaned.get("scopes") not in (None, [ApiScope.EVENTS_WRITE.value]):
            self.add_error(
                "scopes", _("A key used in web pages is public there: it may only send events (“Send events”).")
            )
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    """Keys are shown once, when created; afterwards only their prefix. Revoke, never edit the key;
    its name and scopes may change."""

    form = ApiKeyForm
    list_display = ["name", "prefix", "public", "scopes_shown", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return ["name", "public", "scopes"] if obj is None else ["name", "public", "scopes", *self.readonly_fields]

    @admin.display(description=_("Scopes"))
    def scopes_shown(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes) if isinstance(obj.scopes, list) else ""

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm[ApiKey], change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        user = request.user if request.user.is_authenticated else None
        issued = api_key_issue(name=obj.name, scopes=form.cleaned_data["scopes"], public=obj.public, created_by=user)
        obj.pk, obj.prefix = issued.api_key.pk, issued.api_key.prefix
        self.message_user(
            request,
            gettext("API key for {name}: {key} — copy it now; it is not shown again.").format(
                name=obj.name, key=issued.key
            ),
            messages.WARNING,
        )

    @admin.action(description=_("Revoke selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
        self.message_user(request, _("Revoked: requests with these keys now get 401."))

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the key's history stays readable


class FieldNamesField(forms.CharField):
    """Field names as a marketer types them: separated by commas (``first_name, company,
    attributes.goal``), shown the same way. A JSON list, as the field once took, is read too."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(name, str) for name in value):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # a list, not text
        text = str(super().to_python(value)).strip()
        if text.startswith("["):
            try:
                names = json.loads(text)
            except ValueError:
                raise forms.ValidationError(
                    _("must be a list of field names separated by commas, e.g. first_name, company, attributes.goal")
                ) from None
            return names if isinstance(names, list) else [names]
        return [name.strip() for name in text.split(",") if name.strip()]


class TrackedFormForm(forms.ModelForm[TrackedForm]):
    """Refuses lead fields a public form may not write (stage, owner, scores, external id)."""

    lead_fields = FieldNamesField(
        label=capfirst(TrackedForm._meta.get_field("lead_fields").verbose_name),
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text=TrackedForm._meta.get_field("lead_fields").help_text,
    )

    class Meta:
        model = TrackedForm
        fields = ["name", "key", "active", "lead_fields", "success_url"]

    def clean_lead_fields(self) -> object:
        value = self.cleaned_data.get("lead_fields")
        value = [] if value is None else value
        problems = tracking.form_lead_field_problems(value)
        if problems:
            raise forms.ValidationError(problems)
        return value


@admin.register(TrackedForm)
class TrackedFormAdmin(admin.ModelAdmin[TrackedForm]):
    form = TrackedFormForm
    list_display = ["name", "key", "active", "success_url"]
    prepopulated_fields = {"key": ["name"]}

    def save_model(
        self, request: HttpRequest, obj: TrackedForm, form: forms.ModelForm[TrackedForm], change: bool
    ) -> None:
        # The custom attributes it writes are known from now on, not at its first post: a
        # key used in web pages may write them before anyone has filled the form in.
        scoring.attribute_names_declare(obj.lead_fields, origin=AttributeName.Origin.FORM)
        super().save_model(request, obj, form, change)


from intake import import_admin  # noqa: E402, F401  (the lead import pages register themselves)
