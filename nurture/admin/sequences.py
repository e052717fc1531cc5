"""Sequences in the admin, with their steps (templates checked on save), previews,
figures per step and enrolling leads by email."""

from __future__ import annotations

import logging
import re
import smtplib
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from nurture import content, selectors, services, timing
from nurture.models import Enrollment, Sequence, Step
from scoring import localized, typed
from scoring.models import Lead

logger = logging.getLogger(__name__)

# Django's own names of the days ("Mon", "lun"), read in the page's language.
WEEKDAY_CHOICES = [(index, WEEKDAYS_ABBR[index]) for index in range(len(timing.WEEKDAYS))]
# A step's versions in other languages, edited as fields of its form: "<code>_subject"…
VERSION_PARTS = {"subject": _("subject"), "text": _("text body"), "html": _("HTML body")}


def _version_field(code: str, name: str, part: str) -> forms.CharField:
    widgets = {
        "subject": forms.TextInput(attrs={"size": 80}),
        "text": forms.Textarea(attrs={"rows": 6, "cols": 90}),
        "html": forms.Textarea(attrs={"rows": 6, "cols": 90}),
    }
    return forms.CharField(
        label=format_lazy("{name}: {part}", name=name, part=VERSION_PARTS[part]),
        required=False,
        strip=part == "subject",
        widget=widgets[part],
    )


def _version_field_names(code: str) -> list[str]:
    return [f"version_{code}_{part}" for part in VERSION_PARTS]


class StepForm(forms.ModelForm[Step]):
    """Checks the send window and the templates: a template that does not compile, or
    fails rendering for a sample lead, is an error on its field now, not at send time."""

    send_weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAY_CHOICES,
        coerce=int,
        # The model's default (every day), which a field declared here does not take on its own.
        initial=[index for index, _day in WEEKDAY_CHOICES],
        widget=forms.CheckboxSelectMultiple,
        label=_("Send on"),
        help_text=_("Days of the week, in the lead's time zone (else the account's, else the site's)."),
    )

    class Meta:
        model = Step
        fields = [
            "language",
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
                message = gettext(message)  # marked in nurture.timing
                self.add_error(field, message[0].upper() + message[1:])
        subject, text = cleaned.get("subject_template"), cleaned.get("text_template")
        if subject is not None and text is not None:
            if "\n" in subject:
                self.add_error("subject_template", _("The subject must be one line."))
            problems = content.template_problems(
                subject=subject, text=text, html_body=cleaned.get("html_template") or ""
            )
            fields = {"subject": "subject_template", "text": "text_template", "html": "html_template"}
            for name, problem in problems.items():
                self.add_error(fields[name], gettext("Template error: {problem}").format(problem=problem))
        cleaned["translations"] = self._versions(cleaned)
        return cleaned

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Django's "not one of the available choices" says not which: the file's refusal does.
        self.fields["language"].error_messages["invalid_choice"] = gettext(
            "{value} is not one of the languages a step may be written in: {choices}"
        ).format(value="%(value)s", choices=", ".join(code for code, _name in settings.LANGUAGES))
        for code, version in (self.instance.translations or {}).items():
            for part in VERSION_PARTS:
                if f"version_{code}_{part}" in self.fields and isinstance(version, dict):
                    self.fields[f"version_{code}_{part}"].initial = version.get(part, "")

    def _versions(self, cleaned: dict[str, Any]) -> dict[str, dict[str, str]]:
        """The versions in other languages, each checked as the step's own content is."""
        own = cleaned.get("language") or content.site_language()
        versions: dict[str, dict[str, str]] = {}
        for code, name in settings.LANGUAGES:
            subject, text, html_body = (cleaned.get(field) or "" for field in _version_field_names(code))
            if not (subject or text or html_body):
                continue
            if code == own:
                self.add_error(
                    f"version_{code}_subject",
                    gettext("{language} is this step's own language: write it above.").format(language=name),
                )
                continue
            if not subject:
                self.add_error(
                    f"version_{code}_subject", gettext("The {language} version needs a subject.").format(language=name)
                )
            elif "\n" in subject:
                self.add_error(f"version_{code}_subject", gettext("The subject must be one line."))
            if not text.strip():
                self.add_error(
                    f"version_{code}_text", gettext("The {language} version needs a text body.").format(language=name)
                )
            if subject and text.strip():
                problems = content.template_problems(subject=subject, text=text, html_body=html_body)
                for part, problem in problems.items():
                    self.add_error(
                        f"version_{code}_{part}", gettext("Template error: {problem}").format(problem=problem)
                    )
                versions[code] = {"subject": subject, "text": text, **({"html": html_body} if html_body else {})}
        return versions

    def save(self, commit: bool = True) -> Step:
        self.instance.translations = self.cleaned_data.get("translations", {})
        return super().save(commit=commit)


# The fields of the versions in other languages, one set per language the site speaks:
# declared on the form as if written in its body (the admin's fieldsets name them).
_VERSION_FIELDS = {
    f"version_{code}_{part}": _version_field(code, name, part)
    for code, name in settings.LANGUAGES
    for part in VERSION_PARTS
}
StepForm.declared_fields.update(_VERSION_FIELDS)
_VERSION_FIELDSETS: list[Any] = [
    (
        format_lazy(_("In {language} (optional: leads whose language is {code} get it)"), language=name, code=code),
        {"fields": _version_field_names(code), "classes": ["collapse"]},
    )
    for code, name in settings.LANGUAGES
]
StepForm.base_fields.update(_VERSION_FIELDS)


class StepInline(admin.StackedInline[Step, Sequence]):
    model = Step
    form = StepForm
    extra = 0
    ordering = ["position"]
    readonly_fields = ["test_email"]
    fieldsets = [
        (None, {"fields": [("position", "campaign"), ("wait_days", "wait_hours"), "test_email"]}),
        (_("Send window (lead's local time)"), {"fields": [("send_hour_start", "send_hour_end"), "send_weekdays"]}),
        (_("Content"), {"fields": ["language", "subject_template", "text_template", "html_template"]}),
        *_VERSION_FIELDSETS,
    ]

    @admin.display(description=_("Test email"))
    def test_email(self, obj: Step) -> SafeString:
        if obj.pk is None:
            return SafeString(escape(gettext("Save the step first: then preview it and send yourself a test.")))
        url = reverse("admin:nurture_sequence_preview", args=[obj.sequence_id])
        return format_html('<a href="{}#step-{}">{}</a>', url, obj.pk, gettext("Preview and send me a test"))


class PreviewForm(forms.Form):
    lead = forms.CharField(label=_("Lead"), help_text=_("Email or id."), required=False)

    def clean_lead(self) -> Lead | None:
        value = (self.cleaned_data.get("lead") or "").strip()
        if not value:
            return None
        lead_id = typed.id_from_text(value)
        leads = Lead.objects.filter(pk=lead_id) if lead_id is not None else Lead.objects.with_email(value)
        lead = leads.first()
        if lead is None:
            raise forms.ValidationError(gettext("No lead with id or email {value!r}.").format(value=value))
        return lead


class EnrollForm(forms.Form):
    emails = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60}),
        help_text=_("Lead emails, one per line (commas and spaces also separate)."),
    )

    def clean_emails(self) -> list[str]:
        emails = [e for e in re.split(r"[\s,;]+", self.cleaned_data["emails"]) if e]
        if not emails:
            raise forms.ValidationError(_("Give at least one email."))
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
            _("Exit goals"),
            {
                "fields": ["exit_on_group_reached", "exit_on_group_left", "exit_on_conversion", "exit_on_sales"],
                "description": _("Checked before every step. Unsubscribing always exits."),
            },
        ),
        (_("Figures per step"), {"fields": ["figures"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Sequence]:
        # Counted in the list's one query, not one query per sequence.
        active = Count("enrollments", filter=Q(enrollments__status=Enrollment.Status.ACTIVE))
        return super().get_queryset(request).prefetch_related("steps").annotate(active_count=active)

    @admin.display(description=_("Steps"))
    def step_count(self, obj: Sequence) -> str:
        return localized.number(len(obj.steps.all()))

    @admin.display(description=_("Active enrollments"))
    def active_enrollments(self, obj: Sequence) -> str:
        return localized.number(getattr(obj, "active_count", 0))

    @admin.display(description=_("Figures"))
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
                "<int:object_id>/steps/<int:step_id>/test/",
                self.admin_site.admin_view(self.test_email_view),
                name="nurture_sequence_step_test",
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
            "title": gettext("Preview of {sequence}").format(sequence=sequence),
            "opts": self.opts,
            "original": sequence,
            "form": form,
            "lead": lead,
            "previews": previews,
            "can_send_test": self.has_change_permission(request, sequence),
        }
        return TemplateResponse(request, "admin/nurture/sequence/preview.html", context)

    def test_email_view(self, request: HttpRequest, object_id: int, step_id: int) -> HttpResponse:
        """Send the step's email, rendered for the sample lead, to the signed-in person."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        step = get_object_or_404(Step.objects.select_related("sequence"), pk=step_id, sequence_id=object_id)
        if not self.has_change_permission(request, step.sequence):
            raise PermissionDenied
        back = reverse("admin:nurture_sequence_preview", args=[object_id]) + f"#step-{step.pk}"
        to = str(getattr(request.user, "email", "") or "")
        if not to:
            self.message_user(
                request,
                _(
                    "Your account has no email address to send the test to: ask an administrator to add one "
                    "(Authentication and Authorization, Users)."
                ),
                messages.ERROR,
            )
            return HttpResponseRedirect(back)
        try:
            subject = services.step_sample_send(step=step, to=to)
        except content.TemplateProblems as exc:
            self.message_user(
                request,
                gettext("Step {position} cannot be rendered: {problems}").format(position=step.position, problems=exc),
                messages.ERROR,
            )
        except (smtplib.SMTPException, OSError) as exc:
            self.message_user(
                request,
                gettext("The test email was not sent: the mail server could not take it ({error}).").format(
                    error=f"{type(exc).__name__}: {exc}"
                ),
                messages.ERROR,
            )
        except Exception as exc:  # a template's own rendering error, or an address not usable
            logger.warning("nurture: test email of step %s not sent", step.pk, exc_info=True)
            self.message_user(
                request, gettext("The test email was not sent: {error}").format(error=exc), messages.ERROR
            )
        else:
            if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
                text = gettext(
                    "Test email “{subject}” sent to {to} (no mail server is set in EMAIL_HOST: it was written to "
                    "a file in {folder})."
                ).format(subject=subject, to=to, folder=settings.EMAIL_FILE_PATH)
            else:
                text = gettext("Test email “{subject}” sent to {to}.").format(subject=subject, to=to)
            self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(back)

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
            language=step.language,  # Leadflow's own words in the step's, as a lead gets them
        )
    except Exception as exc:  # noqa: BLE001 - shown to the marketer instead of the preview
        return {"error": str(exc)}
    return {"subject": message.subject, "text": message.text, "html": message.html}
