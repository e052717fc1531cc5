from __future__ import annotations

import copy
import json
import smtplib
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from people.names import isolated, person_name
from routing import sales, services
from routing.models import (
    ACTION_SETTINGS,
    KIND_SETTINGS,
    SECRET_MAX_LENGTH,
    ActionRun,
    Notification,
    Outcome,
    QueueItem,
    Rep,
    RoutingAction,
    RoutingCondition,
    RoutingRule,
    Team,
    TerritoryRule,
    WebhookAttempt,
    WebhookDelivery,
)
from scoring import rules as pure
from scoring import selectors as scoring_selectors
from scoring import sentences
from scoring.admin.figures import GroupedFiguresAdmin

# The id of the page's list of known lead fields, which condition fields offer.
FIELD_LIST_ID = "lead-fields"


def _named(user: Any) -> str | None:
    """A person in a list's column: full name, else user name, as the queue names them
    (None: the admin's empty mark)."""
    return person_name(user) if user is not None else None


class ReadOnlyAdmin(GroupedFiguresAdmin[Any]):
    """History kept by the system: viewable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class TeamsSeenAdmin(ReadOnlyAdmin):
    """Sales history by team: the list (its search, filters and count), a row's page and its
    history read :meth:`get_queryset`, so a team lead given admin access sees the rows of
    the teams they lead and work in, staff in no team none, and any other row's address
    answers as a row that does not exist (:func:`routing.sales.teams_seen_by`)."""

    team_field: str  # the row's team id, as a lookup

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows: QuerySet[Any] = super().get_queryset(request)
        teams = sales.teams_seen_query(request.user)
        return rows if teams is None else rows.filter(**{f"{self.team_field}__in": teams})


class WriteOnlyField(forms.CharField):
    """A secret typed in and never shown back: the page gets an empty box, and
    leaving it empty changes nothing."""

    widget = forms.PasswordInput(render_value=False)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return bool(data)


class RoutingActionForm(forms.ModelForm[RoutingAction]):
    secret = WriteOnlyField(
        required=False,
        strip=False,
        max_length=SECRET_MAX_LENGTH,
        help_text=_("Webhook: the shared secret of the HMAC-SHA256 signature."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The page (routing/rule_actions.js) shows only the settings of the kind chosen.
        self.fields["kind"].widget.attrs["data-kind-settings"] = json.dumps(KIND_SETTINGS)
        self.initial.pop("secret", None)  # never sent to the browser, not even as an initial value
        if self.instance.secret:
            self.fields["secret"].help_text = _("A secret is set. Leave this empty to keep it, or type a new one.")

    def clean_secret(self) -> str:
        # Empty keeps the stored secret (the model's clean still asks for one on a webhook)
        # while the action stays a webhook; another kind has no use for it.
        if self.cleaned_data.get("kind") != RoutingAction.Kind.WEBHOOK:
            return str(self.cleaned_data.get("secret") or "")
        return str(self.cleaned_data.get("secret") or self.instance.secret or "")


class RoutingActionInline(admin.StackedInline[RoutingAction, RoutingRule]):
    model = RoutingAction
    form = RoutingActionForm
    # One setting a line, so the page can show only those the kind uses.
    fields = ["position", "kind", *ACTION_SETTINGS]
    extra = 0
    # A webhook URL typed without a scheme is an https one.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    class Media:
        js = ["routing/rule_actions.js"]


class RoutingConditionForm(forms.ModelForm[RoutingCondition]):
    """A condition on the lead, its field picked from those known (or typed), its value
    typed as in scoring's rules ("Spain, Portugal", "10-50"); every problem of the row
    shown on its field."""

    value_text = forms.CharField(
        label=_("Value"),
        required=False,
        help_text=_("Lists: comma-separated. Ranges: 10-50. Patterns: * matches anything."),
    )

    class Meta:
        model = RoutingCondition
        fields = ["position", "field", "operator"]
        widgets = {"field": forms.TextInput(attrs={"list": FIELD_LIST_ID, "autocomplete": "off"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.operator in {o.value for o in pure.Operator}:
            self.fields["value_text"].initial = pure.format_value_text(
                pure.Operator(self.instance.operator), self.instance.value
            )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        operator = cleaned.get("operator")
        if not operator:
            return cleaned
        try:
            cleaned["value"] = pure.parse_value_text(
                pure.Operator(operator), cleaned.get("value_text") or "", words=sentences.WORDS
            )
        except ValueError as exc:
            self.add_error("value_text", str(exc))
            return cleaned
        problems = pure.check_condition(
            cleaned.get("field") or "", operator, cleaned["value"], dimension=pure.Dimension.FIT, words=sentences.WORDS
        )
        for name, message in problems.items():
            if name == "field" and self.has_error("field"):
                continue  # "This field is required." says it already
            self.add_error("value_text" if name == "value" else name, message)
        return cleaned

    def save(self, commit: bool = True) -> RoutingCondition:
        self.instance.value = self.cleaned_data.get("value")
        return super().save(commit=commit)


def _with_lead_fields(context: dict[str, Any]) -> dict[str, Any]:
    """The page's list of the fields a condition or territory may name, offered as the
    field is typed (one list for every row)."""
    named = RoutingCondition.objects.values_list("field", flat=True).distinct()
    territories = TerritoryRule.objects.values_list("field", flat=True).distinct()
    context["lead_fields"] = scoring_selectors.lead_fields_known(extra_fields=[*named, *territories])
    context["lead_fields_id"] = FIELD_LIST_ID
    return context


class RoutingConditionInline(admin.TabularInline[RoutingCondition, RoutingRule]):
    model = RoutingCondition
    form = RoutingConditionForm
    fields = ["position", "field", "operator", "value_text"]
    extra = 1
    verbose_name = _("condition (the rule acts only for leads passing all of them)")
    verbose_name_plural = _("conditions (the rule acts only for leads passing all of them)")


class RoutingRuleListForm(forms.ModelForm[RoutingRule]):
    """The list's own editing (active, position). Turning on a rule that has lost its group
    (a model file deleted it while the rule was off) is refused on the rule's row: the
    rule's own check would name the group, which the list does not edit."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("active") and not self.instance.active:
            turned_on = copy.copy(self.instance)
            turned_on.active = True
            try:
                turned_on.clean()
            except ValidationError as exc:
                self.add_error("active", exc.messages)  # keeps the rule off
        return cleaned


@admin.register(RoutingRule)
class RoutingRuleAdmin(GroupedFiguresAdmin[RoutingRule]):
    list_display = [
        "name",
        "trigger",
        "group",
        "account_group",
        "threshold",
        "probability",
        "stage",
        "active",
        "position",
    ]
    list_select_related = ["group", "account_group"]
    list_filter = ["active", "trigger"]
    list_editable = ["active", "position"]
    prepopulated_fields = {"key": ["name"]}
    fields = [
        "name",
        "key",
        "active",
        "position",
        "trigger",
        "group",
        "account_group",
        "threshold",
        "probability",
        "stage",
    ]
    inlines = [RoutingConditionInline, RoutingActionInline]
    change_form_template = "admin/routing/lead_fields_change_form.html"

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return super().render_change_form(request, _with_lead_fields(context), *args, **kwargs)

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> Any:
        return super().get_changelist_form(request, form=RoutingRuleListForm, **kwargs)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.score_watches_sync()

    # The scores rules watch follow every change: a rule's page, the list's own editing
    # (active, position: saved without save_related), one delete or "Delete selected".
    def save_model(self, request: HttpRequest, obj: RoutingRule, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.score_watches_sync()

    def delete_model(self, request: HttpRequest, obj: RoutingRule) -> None:
        super().delete_model(request, obj)
        services.score_watches_sync()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RoutingRule]) -> None:
        super().delete_queryset(request, queryset)
        services.score_watches_sync()


class RepInline(admin.TabularInline[Rep, Team]):
    model = Rep
    fields = ["user", "available", "capacity"]
    extra = 0


class TerritoryInline(admin.TabularInline[TerritoryRule, Team]):
    model = TerritoryRule
    fields = ["position", "field", "values", "rep"]
    extra = 0
    formfield_overrides = {
        models.CharField: {"widget": forms.TextInput(attrs={"list": FIELD_LIST_ID, "autocomplete": "off"})}
    }


@admin.register(Team)
class TeamAdmin(GroupedFiguresAdmin[Team]):
    list_display = ["name", "assignment", "sla_hours", "sla_action", "feedback_days", "team_lead_name"]
    list_select_related = ["team_lead"]
    prepopulated_fields = {"key": ["name"]}
    fields = [
        "name",
        "key",
        "assignment",
        "sla_hours",
        "sla_action",
        "feedback_days",
        "team_lead",
        "email",
        "scorecard",
    ]
    inlines = [RepInline, TerritoryInline]
    change_form_template = "admin/routing/lead_fields_change_form.html"

    @admin.display(description=_("team lead"), ordering="team_lead__username")
    def team_lead_name(self, obj: Team) -> str | None:
        return _named(obj.team_lead)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return super().render_change_form(request, _with_lead_fields(context), *args, **kwargs)


_PERSON = ("username", "email", "first_name", "last_name")


class NewRepForm(forms.ModelForm[Rep]):
    """A new rep in one step: the person's account (name, email, a password now or an
    invitation to set one), the Sales group, the team and the capacity."""

    INVITE, PASSWORD = "invite", "password"

    username = forms.CharField(
        label=_("User name"), max_length=150, help_text=_("What they sign in with: letters, digits and @/./+/-/_ only.")
    )
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"), help_text=_("Invitations and lead notifications go here."))
    access = forms.ChoiceField(
        label=_("Password"),
        choices=[
            (INVITE, _("Email them an invitation to set their own password")),
            (PASSWORD, _("Set a password now (tell it to them yourself)")),
        ],
        initial=INVITE,
        widget=forms.RadioSelect,
    )
    password1 = forms.CharField(
        label=_("New password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Only when setting a password now."),
    )
    password2 = forms.CharField(
        label=_("New password again"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Rep
        fields = ["team", "capacity", "available"]

    def clean_username(self) -> str:
        username = str(get_user_model().normalize_username(self.cleaned_data["username"]))
        UnicodeUsernameValidator()(username)
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(gettext("There is already a user named {username}.").format(username=username))
        return username

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not Group.objects.filter(name=services.SALES_GROUP).exists():
            raise forms.ValidationError(
                gettext("The {group} group is missing (the migrations make it): run manage.py migrate.").format(
                    group=services.SALES_GROUP
                )
            )
        if cleaned.get("access") != self.PASSWORD:
            return cleaned
        first, again = cleaned.get("password1") or "", cleaned.get("password2") or ""
        if not first:
            self.add_error("password1", _("Give the password, or choose to send an invitation."))
        elif first != again:
            self.add_error("password2", _("The two passwords differ."))
        else:
            # As typed, even when refused for another reason: "too similar to the user name" still holds.
            typed = {name: cleaned.get(name) or self.data.get(self.add_prefix(name), "") for name in _PERSON}
            person = get_user_model()(**typed)
            try:
                validate_password(first, person)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else answer


def _mail_error(exc: Exception) -> str:
    """What went wrong sending, in words: the server's answer when it gave one."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"the mail server refused {address}: {code} {_text(answer)}"
            for address, (code, answer) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the mail server answered {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, ValueError):
        return str(exc)
    return f"could not reach the mail server ({type(exc).__name__}: {exc})"


@admin.register(Rep)
class RepAdmin(GroupedFiguresAdmin[Rep]):
    list_display = ["user_name", "team", "available", "capacity"]
    list_select_related = ["user", "team"]
    list_filter = ["team", "available"]
    list_editable = ["available", "capacity"]
    actions = ["send_invitation"]
    new_rep_fieldsets = [
        (_("The person"), {"fields": ["username", ("first_name", "last_name"), "email"]}),
        (_("Signing in"), {"fields": ["access", "password1", "password2"]}),
        (_("In sales"), {"fields": ["team", "capacity", "available"]}),
    ]

    @admin.display(description=_("user"), ordering="user__username")
    def user_name(self, obj: Rep) -> str | None:
        return _named(obj.user)

    def makes_accounts(self, request: HttpRequest, obj: Rep | None) -> bool:
        """The one-step form makes a user: for those who may add users (an administrator),
        since a person choosing a rep's password could work the queue as them. Others add
        a rep for an existing user."""
        return obj is None and bool(request.user.has_perm("auth.add_user"))

    def get_fieldsets(self, request: HttpRequest, obj: Rep | None = None) -> Any:
        if self.makes_accounts(request, obj):
            return self.new_rep_fieldsets
        return super().get_fieldsets(request, obj)

    def get_form(self, request: HttpRequest, obj: Rep | None = None, change: bool = False, **kwargs: Any) -> Any:
        if self.makes_accounts(request, obj):
            kwargs["form"] = NewRepForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Rep, form: Any, change: bool) -> None:
        if change or not isinstance(form, NewRepForm):
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        rep = services.rep_create(
            username=data["username"],
            email=data["email"],
            first_name=data.get("first_name") or "",
            last_name=data.get("last_name") or "",
            password=data["password1"] if data["access"] == NewRepForm.PASSWORD else None,
            team=data["team"],
            capacity=data["capacity"],
            available=data["available"],
        )
        obj.pk, obj.user = rep.pk, rep.user
        if data["access"] == NewRepForm.INVITE:
            request._rep_to_invite = rep  # type: ignore[attr-defined]  # sent by add_view, once committed

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        response = super().add_view(request, form_url, extra_context)
        # The admin saves in a transaction: the invitation goes once it is committed (no
        # link to an account rolled back), and still in this request, to say how it went.
        rep = getattr(request, "_rep_to_invite", None)
        if rep is not None:
            self._invite(request, rep)
        return response

    def _invite(self, request: HttpRequest, rep: Rep) -> None:
        try:
            services.rep_invite_send(rep=rep)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            self.message_user(
                request,
                gettext(
                    "The rep {name} was added, but the invitation was not sent: {error}. Select them in the list "
                    "and choose 'Send an invitation to set a password' once the mail server takes it."
                ).format(name=rep.user.get_username(), error=_mail_error(exc)),
                messages.WARNING,
            )
        else:
            self.message_user(
                request,
                gettext("An invitation to set a password went to {email}.").format(email=rep.user.email),
                messages.SUCCESS,
            )

    @admin.action(description=_("Send an invitation to set a password (to the rep's own email)"))
    def send_invitation(self, request: HttpRequest, queryset: QuerySet[Rep]) -> None:
        sent, failed = [], []
        for rep in queryset.select_related("user", "team"):
            try:
                services.rep_invite_send(rep=rep)
            except (smtplib.SMTPException, OSError, ValueError) as exc:
                failed.append(f"{rep.user.get_username()} ({_mail_error(exc)})")
            else:
                sent.append(rep.user.get_username())
        if sent:
            self.message_user(
                request, gettext("Invitation sent to {names}.").format(names=", ".join(sent)), messages.SUCCESS
            )
        if failed:
            self.message_user(request, gettext("Not sent: {names}.").format(names="; ".join(failed)), messages.ERROR)


@admin.register(QueueItem)
class QueueItemAdmin(TeamsSeenAdmin):
    team_field = "team_id"
    list_display = ["lead", "team", "owner_name", "status", "entered_at", "claimed_at", "escalated_at", "reason"]
    # The teams offered are those of the items the user sees (a team lead: their own).
    list_filter = ["status", ("team", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["lead", "team", "owner"]
    search_fields = ["lead__id__lead_search", "reason"]
    raw_id_fields = ["lead"]
    actions = ["release"]

    @admin.display(description=_("owner"), ordering="owner__username")
    def owner_name(self, obj: QueueItem) -> str | None:
        return _named(obj.owner)

    def has_release_permission(self, request: HttpRequest) -> bool:
        # Whoever works the queue and reaches this list: an administrator, or a team lead
        # given staff access; marketers read the queue's history but take no sales action.
        return bool(request.user.has_perm("routing.work_queue"))

    @admin.action(
        description=_("Release the selected leads to their team's queue (a rep away: whoever holds them)"),
        permissions=["release"],
    )
    def release(self, request: HttpRequest, queryset: QuerySet[QueueItem]) -> TemplateResponse | None:
        # As Django's delete: a page shows each lead with who holds it now, and only its
        # confirmation releases, the leads those reps still hold.
        ids = list(queryset.values_list("pk", flat=True))
        form = ReleaseForm(request.POST if request.POST.get("post") == "yes" else None)
        if form.is_bound and form.is_valid():
            try:
                done = sales.items_release(
                    held_by=_holders_shown(request, ids),
                    user=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                )
            except sales.InputRefused as exc:
                for field, problem in exc.problems.items():
                    form.add_error(field, problem)
            else:
                self._say_released(request, done, selected=len(ids))
                return None
        choice = sales.items_release_preview(item_ids=ids, user=request.user)  # type: ignore[arg-type]
        notes = _left_as_they_are(outside=choice.outside, not_held=choice.not_held)
        if not choice.held:
            for note in notes:
                self.message_user(request, note, messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Release the selected leads to their team's queue?"),
            "opts": self.opts,
            "media": self.media,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "rows": [_release_row(item) for item in choice.held],
            "notes": notes,
            "form": form if form.is_bound else ReleaseForm(),
        }
        return TemplateResponse(request, "admin/routing/queueitem/release_confirmation.html", context)

    def _say_released(self, request: HttpRequest, done: sales.ItemsReleased, *, selected: int) -> None:
        if released := len(done.released):
            self.message_user(
                request,
                ngettext(
                    "{count} lead back in its team's queue, for any rep to claim.",
                    "{count} leads back in their team's queue, for any rep to claim.",
                    released,
                ).format(count=released),
                messages.SUCCESS,
            )
        if done.holder_changed:
            changed = QueueItem.objects.filter(pk__in=done.holder_changed).select_related("lead", "owner")
            self.message_user(
                request,
                ngettext(
                    "{count} lead left as it was: who holds it changed after the page you confirmed ({leads}). "
                    "Look at it again before releasing it.",
                    "{count} leads left as they were: who holds them changed after the page you confirmed "
                    "({leads}). Look at them again before releasing them.",
                    len(done.holder_changed),
                ).format(count=len(done.holder_changed), leads="; ".join(map(_held_now, changed.order_by("pk")))),
                messages.WARNING,
            )
        # Selected but gone from the page (another team's, no longer in the list): left too.
        not_held = selected - released - len(done.holder_changed) - len(done.outside)
        for note in _left_as_they_are(outside=len(done.outside), not_held=not_held):
            self.message_user(request, note, messages.WARNING)


class ReleaseForm(forms.Form):
    """The reason an administrator gives for releasing an away rep's leads (checked as a
    rep's own release checks it, by the service)."""

    reason = forms.CharField(
        label=_("Why? (optional)"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("Kept with each release, in the lead's timeline: a holiday, a rep who left…"),
    )


def _holders_shown(request: HttpRequest, ids: list[int]) -> dict[int, int | None]:
    """The holder the confirmation page showed for each item (empty: a deleted account); an
    item the page did not send one for is left out, so it is not released."""
    shown: dict[int, int | None] = {}
    for pk in ids:
        value = request.POST.get(f"holder_{pk}")
        if value == "":
            shown[pk] = None
        elif value is not None and value.isascii() and value.isdigit():  # "²" is a digit to isdigit
            shown[pk] = int(value)
    return shown


def _lead_name(item: QueueItem) -> str:
    return item.lead.name or str(item.lead)


def _release_row(item: QueueItem) -> dict[str, Any]:
    holder = person_name(item.owner) if item.owner is not None else gettext("a rep whose account was deleted")
    if item.claimed_at is not None:
        since = gettext("claimed {at}").format(at=date_format(localtime(item.claimed_at), "DATETIME_FORMAT"))
    else:
        since = gettext("assigned by routing, not claimed yet")
    lead = f"{item.lead.name} ({item.lead})" if item.lead.name else str(item.lead)
    return {"item": item, "lead": lead, "holder": holder, "since": since}


def _held_now(item: QueueItem) -> str:
    if item.owner is not None and item.status in QueueItem.OPEN_STATUSES:
        return gettext("{lead}, now held by {rep}").format(
            lead=isolated(_lead_name(item)), rep=isolated(person_name(item.owner))
        )
    return gettext("{lead}, now {status}").format(
        lead=isolated(_lead_name(item)), status=item.get_status_display().lower()
    )


def _left_as_they_are(*, outside: int, not_held: int) -> list[str]:
    notes = []
    if outside:
        notes.append(
            ngettext(
                "{count} lead left as it was: it is in another team's queue, not one you belong to or lead.",
                "{count} leads left as they were: they are in other teams' queues, not ones you belong to or lead.",
                outside,
            ).format(count=outside)
        )
    if not_held:
        notes.append(
            ngettext(
                "{count} lead left as it was: it waits for any rep, or is already accepted or closed.",
                "{count} leads left as they were: they wait for any rep, or are already accepted or closed.",
                not_held,
            ).format(count=not_held)
        )
    return notes


@admin.register(Outcome)
class OutcomeAdmin(TeamsSeenAdmin):
    # An outcome is its queue item's team's; one reported with no item (a CRM's deal for a
    # lead that never was in a queue) is no team's, read by those who read every team's.
    team_field = "item__team_id"
    list_display = ["at", "lead", "kind", "amount", "reason_shown", "total_score", "user_name", "source"]
    list_filter = ["kind"]
    list_select_related = ["lead", "user"]
    search_fields = ["lead__id__lead_search", "reason"]
    exclude = ["reason"]
    readonly_fields = ["reason_shown"]

    @admin.display(description=_("reason"))
    def reason_shown(self, obj: Outcome) -> str:
        return obj.reason_shown()

    @admin.display(description=_("user"), ordering="user__username")
    def user_name(self, obj: Outcome) -> str | None:
        return _named(obj.user)


@admin.register(ActionRun)
class ActionRunAdmin(TeamsSeenAdmin):
    # A run is the team's it acted for (the queue the lead is in, the team told, the team an
    # owner was picked from), kept as done whatever team its action names later: its outcome
    # names that team's leads, reps and address. Other runs (nurture, stage, tag, webhook, an
    # owner named or told) are no team's, read by those who read every team's.
    team_field = "team_id"
    list_display = ["done_at", "transition", "action", "outcome_shown"]
    list_select_related = ["transition__from_group", "transition__to_group", "action__rule"]
    exclude = ["outcome"]
    readonly_fields = ["outcome_shown"]

    @admin.display(description=_("outcome"))
    def outcome_shown(self, obj: ActionRun) -> str:
        return obj.outcome_shown()


class WebhookAttemptInline(admin.TabularInline[WebhookAttempt, WebhookDelivery]):
    model = WebhookAttempt
    fields = ["at", "status_code", "error_shown", "duration_ms"]
    readonly_fields = ["at", "status_code", "error_shown", "duration_ms"]
    extra = 0
    can_delete = False

    @admin.display(description=_("error"))
    def error_shown(self, obj: WebhookAttempt) -> str:
        return obj.error_shown()


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    # Marketing's, not a team's: a webhook action has no team, and its payload is the lead
    # whichever team has it, so whoever may view deliveries (Marketing) reads them all.
    list_display = ["created_at", "url", "status", "attempts", "next_attempt_at", "delivered_at"]
    list_filter = ["status"]
    inlines = [WebhookAttemptInline]


@admin.register(Notification)
class NotificationAdmin(TeamsSeenAdmin):
    """The outbox. A notification whose sender stopped between sending and confirming
    is *unknown*: the mail server may have it. Whoever checks the server's log says
    which it was with the two actions. A notification to a team (its leads, its address)
    is that team's; one to a lead's or account's owner, or recorded before notifications
    kept their team, is no team's, read by those who read every team's."""

    team_field = "team_id"

    list_display = ["created_at", "subject", "recipients", "status", "attempts", "claimed_at", "sent_at", "error_shown"]
    list_filter = ["status"]
    search_fields = ["subject"]
    actions = ["send_again", "mark_sent"]
    exclude = ["error"]
    readonly_fields = ["error_shown"]

    @admin.display(description=_("error"))
    def error_shown(self, obj: Notification) -> str:
        return obj.error_shown()

    @admin.display(description=_("To"))
    def recipients(self, obj: Notification) -> str:
        return ", ".join(map(str, obj.to)) if isinstance(obj.to, list) else str(obj.to)

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("routing.change_notification"))

    @admin.action(
        description=_("Send again the selected unknown notifications (the mail server never got them)"),
        permissions=["resolve"],
    )
    def send_again(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = services.notifications_send_again(ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "{count} unknown notification back in the outbox.",
                "{count} unknown notifications back in the outbox.",
                count,
            ).format(count=count),
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Mark the selected unknown notifications sent (the mail server has them)"),
        permissions=["resolve"],
    )
    def mark_sent(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = services.notifications_mark_sent(ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "{count} unknown notification marked sent.", "{count} unknown notifications marked sent.", count
            ).format(count=count),
            messages.SUCCESS,
        )
