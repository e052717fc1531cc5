"""Accounts in the admin, and the free-mail domains that put a lead in no account."""

from __future__ import annotations

from django.contrib import admin

from scoring.models import Account, FreeMailDomain


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin[Account]):
    list_display = ["name", "domain", "external_id", "industry", "company_size"]
    search_fields = ["name", "domain", "external_id"]


@admin.register(FreeMailDomain)
class FreeMailDomainAdmin(admin.ModelAdmin[FreeMailDomain]):
    """The list is read when a lead is created or its email changes; after editing it,
    ``manage.py accounts_assign`` moves the leads already there."""

    list_display = ["domain"]
    search_fields = ["domain"]
