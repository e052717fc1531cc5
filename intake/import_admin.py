"""The admin page where Marketing imports leads from a CSV file: the file, and its
mapping as a file, as YAML written on the page, or in a few form fields; then the
import's progress (the page polls a small JSON view) and the rows set aside."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from intake import imports
from intake.imports import mapping as mappings
from intake.imports.reading import Table, table_read
from intake.imports.services import columns_check, decimal_mark_of, upload_max_bytes
from intake.models import LeadImport
from scoring import localized, sentences
from scoring.admin.figures import GroupedFiguresAdmin
from scoring.said import said

_FORM_FIELD = {  # where a mapping built from the form's fields is wrong: the form field to name
    "key": "key_column",
    "fields": "columns",
    "attributes": "attributes",
    "outcome": "outcome_column",
    "outcome.open": "open_values",
    "outcome.reason_column": "reason_column",
}


def _form_field(mapping_field: str, default: str) -> str:
    """The form field holding what the mapping's ``mapping_field`` (e.g. outcome.open) came from."""
    return _FORM_FIELD.get(mapping_field, _FORM_FIELD.get(mapping_field.split(".")[0], default))


class LeadImportForm(forms.Form):
    csv_file = forms.FileField(label=_("CSV file"), help_text=_("The leads, one a row, with a header row."))
    mapping_file = forms.FileField(
        label=_("Mapping file"),
        required=False,
        help_text=_(
            "A YAML file saying which column is what (see examples/x_education_mapping.yaml). "
            "Or fill in the fields below instead."
        ),
    )
    key_column = forms.CharField(
        label=_("Key column"),
        required=False,
        help_text=_("The column that tells leads apart, e.g. Email or Customer ID."),
    )
    key_field = forms.ChoiceField(
        label=_("The key is"),
        choices=[("email", _("an email address")), ("external_id", _("an id from another system"))],
        required=False,
    )
    columns = forms.CharField(
        label=_("Columns onto lead fields"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "First Name: first_name\nCity: city"}),
        help_text=format_lazy(_("One a line, column: field. Fields: {fields}."), fields=", ".join(mappings.FIELDS)),
    )
    attributes = forms.CharField(
        label=_("Columns kept as custom attributes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Plan: plan category\nVisits: visits number"}),
        help_text=_("One a line, column: name type (type: text, number, boolean or category; text if left out)."),
    )
    outcome_column = forms.CharField(
        label=_("Outcome column"),
        required=False,
        help_text=_("Optional: the column that says whether the deal was won."),
    )
    won_values = forms.CharField(
        label=_("Values meaning won"), required=False, help_text=_("Comma-separated, e.g. 1, Won")
    )
    lost_values = forms.CharField(
        label=_("Values meaning lost"), required=False, help_text=_("Comma-separated, e.g. 0, Lost")
    )
    open_values = forms.CharField(
        label=_("Values meaning no outcome yet"),
        required=False,
        help_text=_("Comma-separated, e.g. Open, In progress: the lead is imported without an outcome."),
    )
    reason_column = forms.CharField(
        label=_("Lost reason column"),
        required=False,
        help_text=_("Optional: the column saying why a lost lead was lost."),
    )

    def clean_csv_file(self) -> Any:
        upload = self.cleaned_data["csv_file"]
        if upload.size > upload_max_bytes():
            raise forms.ValidationError(
                gettext("The file is larger than {size} MB.").format(size=upload_max_bytes() // (1024 * 1024))
            )
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("csv_file")
        if upload is None:
            return cleaned
        if cleaned.get("mapping_file"):
            text, where = self._mapping_text(cleaned["mapping_file"]), "mapping_file"
            if text is None:
                return cleaned
            try:
                mapping = imports.mapping_load(text)
            except imports.MappingError as exc:
                self.add_error(
                    "mapping_file",
                    gettext("In the mapping, {field}: {reason}").format(field=exc.field, reason=exc.reason),
                )
                return cleaned
        else:
            where = "key_column"
            try:
                mapping = imports.mapping_from_dict(self._mapping_dict(cleaned))
                text = _yaml(self._mapping_dict(cleaned))
            except imports.MappingError as exc:
                self.add_error(_form_field(exc.field, "key_column"), sentences.translated(exc.sentence()))
                return cleaned
        data = upload.read()
        try:
            table = table_read(data, encoding=mapping.encoding, delimiter=mapping.delimiter)
            index = columns_check(mapping, table.header)
        except imports.FileError as exc:
            self.add_error("csv_file", exc.reason)
            return cleaned
        except imports.MappingError as exc:
            self.add_error(
                where if where == "mapping_file" else _form_field(exc.field, where),
                sentences.translated(exc.sentence()),
            )
            return cleaned
        cleaned["data"], cleaned["mapping_text"] = data, text
        cleaned["read_as"] = _read_as(upload.name, table, decimal_mark_of(table=table, mapping=mapping, index=index))
        return cleaned

    def _mapping_text(self, upload: Any) -> str | None:
        raw = upload.read(1024 * 1024 + 1)
        if len(raw) > 1024 * 1024:
            self.add_error("mapping_file", _("A mapping file is at most 1 MB."))
            return None
        try:
            return str(raw.decode("utf-8-sig"))
        except UnicodeDecodeError:
            self.add_error("mapping_file", _("The mapping file must be UTF-8 text (YAML)."))
            return None

    @staticmethod
    def _mapping_dict(cleaned: dict[str, Any]) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        if cleaned.get("key_column"):
            raw["key"] = {"column": cleaned["key_column"], "field": cleaned.get("key_field") or "email"}
        fields = _pairs(cleaned.get("columns", ""), "fields")
        if fields:
            raw["fields"] = fields
        attributes = {}
        for column, spec in _pairs(cleaned.get("attributes", ""), "attributes").items():
            name, _, kind = spec.partition(" ")
            attributes[column] = {"name": name, "type": kind.strip() or "text"}
        if attributes:
            raw["attributes"] = attributes
        if cleaned.get("outcome_column"):
            raw["outcome"] = {
                "column": cleaned["outcome_column"],
                "won": [v.strip() for v in cleaned.get("won_values", "").split(",") if v.strip()],
                "lost": [v.strip() for v in cleaned.get("lost_values", "").split(",") if v.strip()],
            }
            open_values = [v.strip() for v in cleaned.get("open_values", "").split(",") if v.strip()]
            if open_values:
                raw["outcome"]["open"] = open_values
            if cleaned.get("reason_column"):
                raw["outcome"]["reason_column"] = cleaned["reason_column"]
        return raw


def _read_as(file_name: str, table: Table, decimal: str) -> str:
    # Not beginning with the file's name: the admin capitalises a message's first letter.
    return gettext(
        "The file {file} is read as {encoding}, delimiter '{delimiter}', decimal '{decimal}': if one is wrong, name "
        "it in the mapping (encoding:, delimiter:, decimal:)."
    ).format(file=file_name, encoding=table.encoding, delimiter=table.delimiter, decimal=decimal)


def _pairs(text: str, where: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        column, colon, value = line.rpartition(":")
        if not colon or not column.strip() or not value.strip():
            raise imports.MappingError(
                where,
                said(gettext_noop("line {line} must read 'column: value' ({text})"), line=n, text=repr(line.strip())),
            )
        pairs[column.strip()] = value.strip()
    return pairs


def _yaml(raw: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))


@admin.register(LeadImport)
class LeadImportAdmin(GroupedFiguresAdmin[LeadImport]):
    """Imports are started here ("Add") and watched; never edited (import again instead)."""

    change_form_template = "admin/intake/leadimport/change_form.html"
    list_display = [
        "file_name",
        "status",
        "progress",
        "created_count",
        "updated_count",
        "set_aside_count",
        "created_by",
        "created_at",
    ]
    list_filter = ["status"]
    # The status, progress, counts and rows set aside show live above the form (the template's box).
    readonly_fields = ["file_name", "mapping", "created_by", "created_at", "finished_at"]

    def get_form(self, request: HttpRequest, obj: LeadImport | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            return _AddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: LeadImport | None = None) -> Any:
        return list(LeadImportForm.base_fields) if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: LeadImport | None = None) -> Any:
        return [] if obj is None else self.readonly_fields

    @admin.display(description=_("Progress"))
    def progress(self, obj: LeadImport) -> SafeString:
        return format_html(
            '<progress max="100" value="{}"></progress> {}',
            obj.percent,
            gettext("{percent} ({done} of {total} rows)").format(
                percent=localized.percent(obj.percent, 0),
                done=localized.number(obj.done_rows),
                total=localized.number(obj.total_rows),
            ),
        )

    def save_model(self, request: HttpRequest, obj: LeadImport, form: Any, change: bool) -> None:
        if change:
            return
        user = request.user if request.user.is_authenticated else None
        started = imports.lead_import_start(
            data=form.cleaned_data["data"],
            file_name=form.cleaned_data["csv_file"].name,
            mapping_text=form.cleaned_data["mapping_text"],
            user=user,
        )
        obj.pk, obj.file_name = started.pk, started.file_name
        # What was guessed of the file, shown before its rows come out wrong.
        self.message_user(request, form.cleaned_data["read_as"])

    def response_add(self, request: HttpRequest, obj: LeadImport, post_url_continue: str | None = None) -> Any:
        # To the import's own page, where its progress shows.
        self.message_user(
            request, gettext("Importing {file}: the page follows its progress.").format(file=obj.file_name)
        )
        return HttpResponseRedirect(reverse("admin:intake_leadimport_change", args=[obj.pk]))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the import has no related rows; the add form is not a ModelForm

    def has_change_permission(self, request: HttpRequest, obj: LeadImport | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:import_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="intake_leadimport_progress",
            )
        ]
        return own + super().get_urls()

    def progress_view(self, request: HttpRequest, import_id: int) -> JsonResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        record = get_object_or_404(LeadImport, pk=import_id)
        return JsonResponse(progress_data(record))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> Any:
        extra = dict(extra_context or {})
        record = self.get_object(request, object_id)
        if record is not None:
            extra["lead_import"] = progress_data(record)
            extra["progress_url"] = reverse("admin:intake_leadimport_progress", args=[record.pk])
        return super().change_view(request, object_id, form_url, extra)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LeadImport]:
        return super().get_queryset(request).defer("data")


class _AddForm(LeadImportForm):
    """The add page's form, as the admin expects a model form to behave."""

    def __init__(self, *args: Any, instance: LeadImport | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance = instance or LeadImport()

    def save(self, commit: bool = True) -> LeadImport:
        return self.instance

    def save_m2m(self) -> None:
        pass

    class _meta:  # what the admin reads of a model form
        model = LeadImport
        fields = list(LeadImportForm.base_fields)


def progress_data(record: LeadImport) -> dict[str, Any]:
    return {
        "status": record.status,
        "status_label": record.get_status_display(),
        "percent": record.percent,
        "done_rows": record.done_rows,
        "total_rows": record.total_rows,
        "counts": {
            "created": record.created_count,
            "updated": record.updated_count,
            "unchanged": record.unchanged_count,
            "set_aside": record.set_aside_count,
            "outcomes": record.outcomes_count,
        },
        "errors": record.errors if isinstance(record.errors, list) else [],
        "failure": record.failure_shown(),
        "finished": record.status in (LeadImport.Status.DONE, LeadImport.Status.FAILED),
    }
