"""Two actions on scoring's Lead changelist, added from here so that scoring never
imports nurture: "Enroll in a nurture sequence…" and "Exit from a nurture sequence…"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from nurture import goals, services
from nurture.models import Sequence
from scoring.models import Lead


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


@admin.action(description=_("Enroll in a nurture sequence…"))
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
        title=gettext("Enroll leads in a sequence"),
        apply=apply,
    )


@admin.action(description=_("Exit from a nurture sequence…"))
def exit_leads_from_sequence(
    modeladmin: admin.ModelAdmin[Lead], request: HttpRequest, queryset: QuerySet[Lead]
) -> HttpResponse | None:
    def apply(sequence: Sequence, leads: QuerySet[Lead]) -> tuple[str, int]:
        count = services.leads_exit_sequence(
            lead_ids=list(leads.values_list("pk", flat=True)), sequence=sequence, reason=goals.ExitReason.MANUAL
        )
        text = ngettext("{count} lead exited {sequence}.", "{count} leads exited {sequence}.", count)
        return text.format(count=count, sequence=sequence), messages.SUCCESS

    return _lead_sequence_action(
        modeladmin,
        request,
        queryset,
        action="exit_leads_from_sequence",
        title=gettext("Exit leads from a sequence"),
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
