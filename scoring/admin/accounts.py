"""Accounts in the admin, and the free-mail domains that put a lead in no account."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scoring import accounts, localized, rules, selectors, sentences, services, typed
from scoring.admin.figures import GroupedFiguresAdmin, SavedHoldingALock
from scoring.admin.rules import ConditionValueForm
from scoring.models import (
    Account,
    AccountGroup,
    AccountRule,
    AccountRuleCondition,
    AccountSettings,
    FreeMailDomain,
    Lead,
)


@admin.register(Account)
class AccountAdmin(GroupedFiguresAdmin[Account]):
    """Accounts by score; an account's page shows its leads by score, why it has its
    score (the roll-up and each fit rule) and its ledger, newest first, page by page."""

    list_display = [
        "name",
        "domain",
        "total_score",
        "lead_score",
        "fit_score",
        "group",
        "lead_count",
        "industry",
        "country",
    ]
    list_filter = ["group"]
    list_select_related = ["group"]
    search_fields = ["name", "domain", "external_id"]
    ordering = ["-total_score", "id"]
    show_full_result_count = False
    fields = [
        "name",
        ("domain", "external_id"),
        ("industry", "company_size", "annual_revenue"),
        ("country", "time_zone"),
        "owner",
        "attributes",
    ]
    raw_id_fields = ["owner"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        # A count per row of the page (a subquery the database runs for those rows only),
        # not a join and GROUP BY over every account's leads.
        count = (
            Lead.objects.filter(account=OuterRef("pk")).order_by().values("account").annotate(n=Count("*")).values("n")
        )
        return super().get_queryset(request).annotate(leads_counted=Coalesce(Subquery(count), 0))

    @admin.display(description=_("leads"), ordering="leads_counted")
    def lead_count(self, obj: Account) -> str:
        return localized.number(int(getattr(obj, "leads_counted", 0)))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = dict(extra_context or {})
        account = self.get_object(request, object_id) if typed.id_from_text(object_id) is not None else None
        if account is not None:
            page = typed.page_from_text(request.GET.get("ledger_page", ""))
            entries, more = selectors.account_ledger_page(account_id=account.pk, page=page)
            context["account_page"] = {
                "account": account,
                "breakdown": selectors.account_score_breakdown(account=account),
                "leads": selectors.account_leads(account_id=account.pk),
                "lead_count": getattr(account, "leads_counted", 0),
                "entries": entries,
                "transitions": selectors.account_transitions(account_id=account.pk),
                "newer": page - 1 if page > 1 else None,
                "older": page + 1 if more else None,
            }
        return super().change_view(request, object_id, form_url, context)

    def save_model(self, request: HttpRequest, obj: Account, form: forms.ModelForm[Account], change: bool) -> None:
        # Scoring's service writes it, and re-evaluates its fit. Only what the form
        # changed: the cached scores on ``obj`` may be older than the row's.
        services.account_save(account=obj, fields=form.changed_data if change else None)


class AccountRuleConditionForm(ConditionValueForm[AccountRuleCondition]):
    class Meta:
        model = AccountRuleCondition
        fields = ["position", "field", "operator"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # Every problem of the condition at once, each on its own field.
        problems = accounts.check_account_condition(
            cleaned.get("field") or "", cleaned.get("operator") or "", cleaned.get("value"), words=sentences.WORDS
        )
        for name, message in problems.items():
            shown = "value_text" if name == "value" else name
            if shown not in self.errors:  # a value that did not parse, an operator not chosen: said already
                self.add_error(shown, message)
        return cleaned


class AccountRuleConditionFormSet(
    BaseInlineFormSet[AccountRuleCondition, AccountRule, forms.ModelForm[AccountRuleCondition]]
):
    def clean(self) -> None:
        super().clean()
        kept = [
            form for form in self.forms if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE")
        ]
        if not kept and not any(form.errors for form in self.forms):
            raise forms.ValidationError(gettext("An account fit rule needs at least one condition."))


class AccountRuleConditionInline(admin.TabularInline[AccountRuleCondition, AccountRule]):
    model = AccountRuleCondition
    form = AccountRuleConditionForm
    formset = AccountRuleConditionFormSet
    fields = ["position", "field", "operator", "value_text"]
    verbose_name = _("condition")
    verbose_name_plural = _("conditions")
    extra = 1


@admin.register(AccountRule)
class AccountRuleAdmin(SavedHoldingALock[AccountRule]):
    """Account fit rules with their conditions as rows; a change is applied to every account
    by a worker (or the nightly recompute)."""

    list_display = ["name", "key", "sentence", "points", "match", "active"]
    list_filter = ["active"]
    search_fields = ["name", "key"]
    fields = ["name", "key", "points", "match", "active"]
    prepopulated_fields = {"key": ["name"]}
    inlines = [AccountRuleConditionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccountRule]:
        return super().get_queryset(request).prefetch_related("conditions")

    @admin.display(description=_("Rule"))
    def sentence(self, obj: AccountRule) -> str:
        return rules.describe_rule(obj.to_pure(), words=sentences.WORDS)

    def save_lock(self) -> None:
        services.account_rules_lock()

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm[AccountRule], formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        # After the conditions are saved: the accounts' fit follows the rule as it now is.
        services.account_rules_changed()


@admin.register(AccountGroup)
class AccountGroupAdmin(GroupedFiguresAdmin[AccountGroup]):
    """Account groups (e.g. target, engaged, hot), as score groups are for leads; a change
    regroups every account in the background (or in the nightly recompute)."""

    list_display = ["name", "key", "min_score", "leave_below", "account_count", "description"]
    prepopulated_fields = {"key": ["name"]}
    ordering = ["min_score"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccountGroup]:
        return super().get_queryset(request).annotate(account_count=Count("accounts"))

    @admin.display(description=_("Accounts now"), ordering="account_count")
    def account_count(self, obj: AccountGroup) -> str:
        return localized.number(int(getattr(obj, "account_count", 0)))

    def save_model(
        self, request: HttpRequest, obj: AccountGroup, form: forms.ModelForm[AccountGroup], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        services.account_groups_changed()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccountGroup]) -> None:
        super().delete_queryset(request, queryset)
        services.account_groups_changed()

    def delete_model(self, request: HttpRequest, obj: AccountGroup) -> None:
        super().delete_model(request, obj)
        services.account_groups_changed()


@admin.register(FreeMailDomain)
class FreeMailDomainAdmin(admin.ModelAdmin[FreeMailDomain]):
    """The list is read when a lead is created or its email changes; a change here moves
    the leads already there too, in the background (``manage.py accounts_assign`` if no
    worker runs)."""

    list_display = ["domain"]
    search_fields = ["domain"]

    def _leads_follow(self, request: HttpRequest) -> None:
        services.free_mail_domains_changed()
        self.message_user(request, _("Leads are being put in their accounts again by the new list, in the background."))

    def save_model(
        self, request: HttpRequest, obj: FreeMailDomain, form: forms.ModelForm[FreeMailDomain], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if not change or "domain" in form.changed_data:
            self._leads_follow(request)

    def delete_model(self, request: HttpRequest, obj: FreeMailDomain) -> None:
        super().delete_model(request, obj)
        self._leads_follow(request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[FreeMailDomain]) -> None:
        super().delete_queryset(request, queryset)
        self._leads_follow(request)


@admin.register(AccountSettings)
class AccountSettingsAdmin(admin.ModelAdmin[AccountSettings]):
    """How accounts roll up their leads' scores; saving recomputes every account."""

    fields = ["rollup", "top_n"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # The one row, added once, by someone allowed to.
        return super().has_add_permission(request) and not AccountSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: AccountSettings | None = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: AccountSettings, form: forms.ModelForm[AccountSettings], change: bool
    ) -> None:
        saved = services.account_settings_set(rollup=obj.rollup, top_n=obj.top_n)
        obj.pk = saved.pk
