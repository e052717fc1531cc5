"""Nurture in the admin: sequences with their steps, previews, figures, enrollments.

Also adds two actions to the Lead changelist (scoring's admin), from here, so
that scoring never imports nurture: "Enroll in a nurture sequence…" and
"Exit from a nurture sequence…".
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.safestring import SafeString

from nurture import content, goals, selectors, services, timing
from nurture.models import Delivery, Enrollment, Sequence, Step
from scoring.models import Lead

WEEKDAY_CHOICES = [(index, name.title()) for index, name in enumerate(timing.WEEKDAYS)]


# --- steps ---------------------------------------------------------------------------


class StepForm(forms.ModelForm[Step]):
    """Checks the send window and the templates: a template that does not compile, or
    fails rendering for a sample lead, is an error on its field now, not at send time."""

    send_weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAY_CHOICES,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        label="Send on",
        help_text="Days of the week, in the lead's time zone (else the account's, else the site's).",
    )

    class Meta:
        model = Step
        fields = [
            "position",
            "wait_days",
            "wait_hours",
            "send_hour_start",
            "send_hour_end",
            "send_weekdays",
            "campaign",
            "subject_template",
            "text_template",
            "html_template",
        ]
        widgets = {
            "subject_template": forms.TextInput(attrs={"size": 80}),
            "text_template": forms.Textarea(attrs={"rows": 8, "cols": 90}),
            "html_template": forms.Textarea(attrs={"rows": 10, "cols": 90}),
        }

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        start, end = cleaned.get("send_hour_start"), cleaned.get("send_hour_end")
        weekdays = cleaned.get("send_weekdays")
        if start is not None and end is not None and weekdays is not None:
            for name, message in timing.window_errors(start, end, set(weekdays)).items():
                field = {"start_hour": "send_hour_start", "end_hour": "send_hour_end"}.get(name, "send_weekdays")
                self.add_error(field, message[0].upper() + message[1:])
        subject, text = cleaned.get("subject_template"), cleaned.get("text_template")
        if subject is not None and text is not None:
            if "\n" in subject:
                self.add_error("subject_template", "The subject must be one line.")
            problems = content.template_problems(
                subject=subject, text=text, html_body=cleaned.get("html_template") or ""
            )
            fields = {"subject": "subject_template", "text": "text_template", "html": "html_template"}
            for name, problem in problems.items():
                self.add_error(fields[name], f"Template error: {problem}")
        return cleaned


class StepInline(admin.StackedInline[Step, Sequence]):
    model = Step
    form = StepForm
    extra = 0
    ordering = ["position"]
    fieldsets = [
        (None, {"fields": [("position", "campaign"), ("wait_days", "wait_hours")]}),
        ("Send window (lead's local time)", {"fields": [("send_hour_start", "send_hour_end"), "send_weekdays"]}),
        ("Content", {"fields": ["subject_template", "text_template", "html_template"]}),
    ]


# --- sequences ------------------------------------------------------------------------


class PreviewForm(forms.Form):
    lead = forms.CharField(label="Lead", help_text="Email or id.", required=False)

    def clean_lead(self) -> Lead | None:
        value = (self.cleaned_data.get("lead") or "").strip()
        if not value:
            return None
        lead = (
            Lead.objects.filter(pk=int(value)).first()
            if value.isdigit()
            else Lead.objects.filter(email__iexact=value).first()
        )
        if lead is None:
            raise forms.ValidationError(f"No lead with id or email {value!r}.")
        return lead


class EnrollForm(forms.Form):
    emails = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60}),
        help_text="Lead emails, one per line (commas and spaces also separate).",
    )

    def clean_emails(self) -> list[str]:
        emails = [e for e in re.split(r"[\s,;]+", self.cleaned_data["emails"]) if e]
        if not emails:
            raise forms.ValidationError("Give at least one email.")
        return emails


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin[Sequence]):
    inlines = [StepInline]
    list_display = ["name", "key", "active", "reenroll", "step_count", "active_enrollments"]
    list_filter = ["active"]
    search_fields = ["name", "key", "description"]
    prepopulated_fields = {"key": ["name"]}
    readonly_fields = ["figures"]
    change_form_template = "admin/nurture/sequence/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "key", "description", "active", "reenroll"]}),
        (
            "Exit goals",
            {
                "fields": ["exit_on_group_reached", "exit_on_group_left", "exit_on_conversion", "exit_on_sales"],
                "description": "Checked before every step. Unsubscribing always exits.",
            },
        ),
        ("Figures per step", {"fields": ["figures"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Sequence]:
        return super().get_queryset(request).prefetch_related("steps")

    @admin.display(description="Steps")
    def step_count(self, obj: Sequence) -> int:
        return len(obj.steps.all())

    @admin.display(description="Active enrollments")
    def active_enrollments(self, obj: Sequence) -> int:
        return obj.enrollments.filter(status=Enrollment.Status.ACTIVE).count()

    @admin.display(description="Figures")
    def figures(self, obj: Sequence) -> SafeString:
        if obj.pk is None:
            return SafeString("")
        return SafeString(
            render_to_string(
                "admin/nurture/sequence/figures.html",
                {
                    "figures": selectors.sequence_step_figures(sequence=obj),
                    "enrollments": selectors.sequence_enrollment_counts(sequence=obj),
                },
            )
        )

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="nurture_sequence_preview",
            ),
            path(
                "<int:object_id>/enroll/",
                self.admin_site.admin_view(self.enroll_view),
                name="nurture_sequence_enroll",
            ),
        ]
        return own + super().get_urls()

    def preview_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        sequence = get_object_or_404(Sequence, pk=object_id)
        if not self.has_view_permission(request, sequence):
            raise PermissionDenied
        form = PreviewForm(request.GET or None)
        lead = form.cleaned_data.get("lead") if form.is_valid() else None
        lead_data = content.lead_context(lead) if lead is not None else content.SAMPLE_LEAD
        previews = []
        for step in sequence.steps.order_by("position"):
            previews.append({"step": step, **_preview(step, sequence, lead_data)})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of {sequence}",
            "opts": self.opts,
            "original": sequence,
            "form": form,
            "lead": lead,
            "previews": previews,
        }
        return TemplateResponse(request, "admin/nurture/sequence/preview.html", context)

    def enroll_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        sequence = get_object_or_404(Sequence, pk=object_id)
        if not self.has_change_permission(request, sequence):
            raise PermissionDenied
        form = EnrollForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            summary = services.enrollments_start_by_email(sequence=sequence, emails=form.cleaned_data["emails"])
            level = (
                messages.SUCCESS
                if summary.enrolled and not summary.refused and not summary.unknown
                else messages.WARNING
            )
            self.message_user(request, summary.describe(), level)
            return HttpResponseRedirect(reverse("admin:nurture_sequence_change", args=[sequence.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Enroll leads in {sequence}",
            "opts": self.opts,
            "original": sequence,
            "form": form,
        }
        return TemplateResponse(request, "admin/nurture/sequence/enroll.html", context)


def _preview(step: Step, sequence: Sequence, lead: dict[str, Any]) -> dict[str, Any]:
    try:
        compiled = content.compile_step(
            subject=step.subject_template, text=step.text_template, html_body=step.html_template
        )
        message = content.render(
            compiled,
            lead=lead,
            step={"position": step.position, "campaign": step.campaign_key()},
            sequence={"key": sequence.key, "name": sequence.name},
            unsubscribe=content.absolute("/n/u/preview"),
            tracking=None,
        )
    except Exception as exc:  # noqa: BLE001 - shown to the marketer instead of the preview
        return {"error": str(exc)}
    return {"subject": message.subject, "text": message.text, "html": message.html}


# --- enrollments and deliveries -----------------------------------------------------


class DeliveryInline(admin.TabularInline[Delivery, Enrollment]):
    model = Delivery
    fields = ["step", "status", "attempts", "sent_at", "opens", "clicks", "error", "message_id"]
    readonly_fields = ["step", "status", "attempts", "sent_at", "opens", "clicks", "error", "message_id"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Enrollment | None = None) -> bool:
        return False


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin[Enrollment]):
    list_display = ["lead", "sequence", "status", "position", "next_run_at", "exit_reason", "enrolled_at", "ended_at"]
    list_filter = ["status", "sequence", "exit_reason"]
    list_select_related = ["lead", "sequence"]
    search_fields = ["lead__email"]
    date_hierarchy = "enrolled_at"
    readonly_fields = [
        "lead",
        "sequence",
        "status",
        "position",
        "next_run_at",
        "exit_reason",
        "enrolled_at",
        "ended_at",
    ]
    inlines = [DeliveryInline]
    actions = ["exit_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # enroll from a sequence ("Enroll leads") or the lead list

    @admin.action(description="Exit selected enrollments")
    def exit_selected(self, request: HttpRequest, queryset: QuerySet[Enrollment]) -> None:
        count = services.enrollments_exit(enrollment_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} enrollment(s) exited.", messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    """What was sent; written only by the sender."""

    list_display = ["message_id", "lead", "step", "status", "attempts", "sent_at", "opens", "clicks", "updated_at"]
    list_filter = ["status", "step__sequence"]
    list_select_related = ["enrollment__lead", "step__sequence"]
    search_fields = ["message_id", "enrollment__lead__email"]

    @admin.display(description="Lead")
    def lead(self, obj: Delivery) -> str:
        return str(obj.enrollment.lead)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False


# --- actions on the Lead changelist -----------------------------------------------------


class SequenceChoiceForm(forms.Form):
    sequence = forms.ModelChoiceField(queryset=Sequence.objects.all())


def _lead_sequence_action(
    modeladmin: admin.ModelAdmin[Lead],
    request: HttpRequest,
    queryset: QuerySet[Lead],
    *,
    action: str,
    title: str,
    apply: Any,
) -> HttpResponse | None:
    """An action with an intermediate page: choose the sequence, then ``apply(sequence, leads)``."""
    form = SequenceChoiceForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        text, level = apply(form.cleaned_data["sequence"], queryset)
        modeladmin.message_user(request, text, level)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.opts,
        "form": form,
        "leads": queryset[:50],
        "count": queryset.count(),
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action": action,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/nurture/lead_sequence_action.html", context)


@admin.action(description="Enroll in a nurture sequence…")
def enroll_leads_in_sequence(
    modeladmin: admin.ModelAdmin[Lead], request: HttpRequest, queryset: QuerySet[Lead]
) -> HttpResponse | None:
    def apply(sequence: Sequence, leads: QuerySet[Lead]) -> tuple[str, int]:
        summary = services.enrollments_start_for_leads(sequence=sequence, leads=leads)
        return summary.describe(), messages.SUCCESS if not summary.refused else messages.WARNING

    return _lead_sequence_action(
        modeladmin,
        request,
        queryset,
        action="enroll_leads_in_sequence",
        title="Enroll leads in a sequence",
        apply=apply,
    )


@admin.action(description="Exit from a nurture sequence…")
def exit_leads_from_sequence(
    modeladmin: admin.ModelAdmin[Lead], request: HttpRequest, queryset: QuerySet[Lead]
) -> HttpResponse | None:
    def apply(sequence: Sequence, leads: QuerySet[Lead]) -> tuple[str, int]:
        count = services.leads_exit_sequence(
            lead_ids=list(leads.values_list("pk", flat=True)), sequence=sequence, reason=goals.ExitReason.MANUAL
        )
        return f"{count} lead(s) exited {sequence}.", messages.SUCCESS

    return _lead_sequence_action(
        modeladmin,
        request,
        queryset,
        action="exit_leads_from_sequence",
        title="Exit leads from a sequence",
        apply=apply,
    )


def lead_admin_add_actions(site: admin.AdminSite = admin.site) -> None:
    """Put the two actions on the Lead changelist (scoring's admin), if it is registered."""
    if not site.is_registered(Lead):
        return
    lead_admin = site.get_model_admin(Lead)
    current = list(lead_admin.actions or [])
    for action in (enroll_leads_in_sequence, exit_leads_from_sequence):
        if action not in current:
            current.append(action)
    lead_admin.actions = current


lead_admin_add_actions()
