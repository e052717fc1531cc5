"""Accounts in the HTTP API: the list (by id, a page at a time) and one account with its
score, why (its leads' roll-up and each fit rule), its best leads and its recent
ledger. Read with a key holding ``leads:read``, as leads are."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from intake.api import ErrorSerializer, ScopedAPIView, ScopeErrorSerializer
from intake.models import ApiScope
from scoring import selectors, typed
from scoring.models import Account, AccountGroup

PAGE = 50
PAGE_MAX = 200

_ACCOUNT_OUT: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "id": serializers.IntegerField(),
    "name": serializers.CharField(),
    "domain": serializers.CharField(allow_null=True),
    "external_id": serializers.CharField(allow_null=True),
    "lead_score": serializers.IntegerField(help_text="Its leads' scores, rolled up."),
    "fit_score": serializers.IntegerField(help_text="From the account fit rules."),
    "total_score": serializers.IntegerField(),
    "group": inline_serializer(
        "AccountGroupBrief",
        {"key": serializers.CharField(), "name": serializers.CharField()},
        allow_null=True,
        help_text="The account group its total is in (with hysteresis), or null.",
    ),
}
AccountListSerializer = inline_serializer(
    "AccountPage",
    {
        "results": serializers.ListField(child=inline_serializer("AccountBrief", _ACCOUNT_OUT)),
        "next_cursor": serializers.IntegerField(allow_null=True),
    },
)
AccountOutSerializer = inline_serializer(
    "Account",
    {
        **_ACCOUNT_OUT,
        "breakdown": serializers.ListField(child=serializers.DictField()),
        "leads": serializers.ListField(child=serializers.DictField()),
        "recent_ledger": serializers.ListField(child=serializers.DictField()),
    },
)


def _positive(value: str, *, name: str, maximum: int) -> int:
    number = typed.id_from_text(value)
    if number is None or number > maximum:
        raise exceptions.ValidationError({name: [f"must be a whole number from 1 to {maximum}"]})
    return number


def account_data(account: Account, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": account.pk,
        "name": account.name,
        "domain": account.domain,
        "external_id": account.external_id,
        "industry": account.industry,
        "company_size": account.company_size,
        "annual_revenue": str(account.annual_revenue) if account.annual_revenue is not None else None,
        "country": account.country,
        "attributes": account.attributes,
        "lead_score": account.lead_score,
        "fit_score": account.fit_score,
        "total_score": account.lead_score + account.fit_score,
        "group": {"key": account.group.key, "name": account.group.name} if account.group else None,
    }
    if full:
        data["breakdown"] = [
            {"label": line.label, "explanation": line.explanation, "points": line.points}
            for line in selectors.account_score_breakdown(account=account)
        ]
        data["leads"] = [
            {"id": lead.pk, "email": lead.email, "total_score": lead.total_score}
            for lead in selectors.account_leads(account_id=account.pk, limit=20)
        ]
        entries, _ = selectors.account_ledger_page(account_id=account.pk, per_page=20)
        data["recent_ledger"] = [
            {
                "at": entry.created_at,
                "dimension": entry.dimension,
                "delta": entry.delta,
                "cause": entry.cause,
                "rule": entry.rule.name if entry.rule else None,
            }
            for entry in entries
        ]
    return data


class AccountsView(ScopedAPIView):
    required_scopes = {"GET": ApiScope.LEADS_READ}

    @extend_schema(
        operation_id="accounts_list",
        parameters=[
            OpenApiParameter("limit", int, description=f"Accounts per page, 1 to {PAGE_MAX}; default {PAGE}."),
            OpenApiParameter("cursor", int, description="From the previous page's next_cursor."),
            OpenApiParameter("domain", str, description="Only the account of this domain."),
            OpenApiParameter("external_id", str, description="Only the account with this id of yours."),
            OpenApiParameter("group", str, description="Only the accounts now in the account group with this key."),
        ],
        responses={200: AccountListSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 403: ScopeErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        """Accounts by id, a page at a time (follow next_cursor), with their scores."""
        params = request.query_params
        limit = _positive(params.get("limit", str(PAGE)), name="limit", maximum=PAGE_MAX)
        accounts = Account.objects.select_related("group").order_by("pk")
        if "cursor" in params:
            accounts = accounts.filter(pk__gt=_positive(params["cursor"], name="cursor", maximum=typed.ID_MAX))
        if params.get("domain"):
            accounts = accounts.filter(domain=params["domain"].strip().lower())
        if params.get("external_id"):
            accounts = accounts.filter(external_id=params["external_id"])
        if "group" in params:
            key = params["group"].strip()
            if not AccountGroup.objects.filter(key=key).exists():
                known = ", ".join(AccountGroup.objects.values_list("key", flat=True)) or "none defined"
                raise exceptions.ValidationError({"group": [f"no account group has the key '{key}' ({known})"]})
            accounts = accounts.filter(group__key=key)
        rows = list(accounts[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        return Response(
            {"results": [account_data(a) for a in rows], "next_cursor": rows[-1].pk if more and rows else None}
        )


class AccountView(ScopedAPIView):
    required_scopes = {"GET": ApiScope.LEADS_READ}

    @extend_schema(
        operation_id="accounts_read",
        responses={200: AccountOutSerializer, 401: ErrorSerializer, 403: ScopeErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, account_id: int) -> Response:
        """An account with its scores and why: its leads' roll-up and each fit rule, its
        best leads, and its recent ledger."""
        account = Account.objects.select_related("group").filter(pk=account_id).first()
        if account is None:
            raise exceptions.NotFound(f"There is no account {account_id}.")
        return Response(account_data(account, full=True))
