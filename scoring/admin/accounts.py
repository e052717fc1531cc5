"""Accounts in the admin, and the free-mail domains that put a lead in no account."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from scoring import services
from scoring.models import Account, AccountRule, AccountSettings, FreeMailDomain


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin[Account]):
    list_display = ["name", "domain", "external_id", "industry", "company_size", "total_score"]
    search_fields = ["name", "domain", "external_id"]
    fields = [
        "name",
        ("domain", "external_id"),
        ("industry", "company_size", "annual_revenue"),
        ("country", "time_zone"),
        "attributes",
    ]

    def save_model(self, request: HttpRequest, obj: Account, form: forms.ModelForm[Account], change: bool) -> None:
        # Scoring's service writes it, and re-evaluates its fit. Only what the form
        # changed: the cached scores on ``obj`` may be older than the row's.
        services.account_save(account=obj, fields=form.changed_data if change else None)


@admin.register(AccountRule)
class AccountRuleAdmin(admin.ModelAdmin[AccountRule]):
    """Account fit rules; a change is applied to every account by a worker (or the nightly recompute)."""

    list_display = ["name", "points", "match", "active"]
    list_filter = ["active"]
    search_fields = ["name"]

    def save_model(
        self, request: HttpRequest, obj: AccountRule, form: forms.ModelForm[AccountRule], change: bool
    ) -> None:
        obj.save()
        services.account_rules_changed()


@admin.register(FreeMailDomain)
class FreeMailDomainAdmin(admin.ModelAdmin[FreeMailDomain]):
    """The list is read when a lead is created or its email changes; after editing it,
    ``manage.py accounts_assign`` moves the leads already there."""

    list_display = ["domain"]
    search_fields = ["domain"]


@admin.register(AccountSettings)
class AccountSettingsAdmin(admin.ModelAdmin[AccountSettings]):
    """How accounts roll up their leads' scores; saving recomputes every account."""

    fields = ["rollup", "top_n"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not AccountSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: AccountSettings | None = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: AccountSettings, form: forms.ModelForm[AccountSettings], change: bool
    ) -> None:
        saved = services.account_settings_set(rollup=obj.rollup, top_n=obj.top_n)
        obj.pk = saved.pk
