"""Sales outcomes from another system (a CRM) and a lead's score history, over the API.

Outcomes are recorded by routing's sales service, as on the sales page, through the
recorder it registers with scoring (:mod:`scoring.outcomes`): intake does not import
routing.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.formats import get_format
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.request import Request
from rest_framework.response import Response

from intake import errors, lead_refs
from intake import events as checks
from intake.api import ErrorSerializer, LeadRefSerializer, ScopedAPIView, ScopeErrorSerializer, body_size_check
from intake.api_keys import request_api_key
from intake.models import ApiScope
from scoring import outcomes, selectors, typed
from scoring.models import Lead

# --- outcomes -------------------------------------------------------------------


class OutcomeInSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(
        choices=list(outcomes.KINDS.items()),
        help_text="opportunity: an opportunity was created; won: the deal was won; lost: it was lost (give reason).",
    )
    amount = serializers.DecimalField(
        max_digits=outcomes.AMOUNT_MAX_DIGITS,
        decimal_places=outcomes.AMOUNT_DECIMAL_PLACES,
        min_value=0,
        required=False,
        allow_null=True,
        help_text="The deal's value, zero or more, in your installation's currency (Leadflow keeps none). "
        'Send it as text ("1250.50") to keep every digit; text is read as the sales page reads an amount in the '
        "site's language, so it may carry the currency (an ISO 4217 code or a sign) and group thousands "
        '("S/ 1.000,00" on a Spanish site), and nothing else: no sign, exponent or other digits than 0-9.',
    )
    reason = serializers.CharField(
        max_length=outcomes.REASON_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="Why it was lost (required for lost).",
    )
    client_id = serializers.CharField(
        max_length=outcomes.CLIENT_ID_MAX_LENGTH,
        required=False,
        allow_null=True,
        help_text="Your id for this outcome (e.g. the CRM's deal stage change): sent again, it is recorded once.",
    )
    occurred_at = serializers.DateTimeField(
        required=False, help_text="When it happened: ISO 8601 with time zone, from 1970 to a day ahead; default: now."
    )

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        unknown = set(data) - set(self.fields) - {"lead"}
        if unknown:
            raise serializers.ValidationError(errors.unknown_fields(unknown))
        # The time with the events' check (a time zone required, a sane range), not DRF's (naive times pass).
        occurred_at = data.get("occurred_at")
        data = {k: v for k, v in data.items() if k not in ("occurred_at", "lead")}
        if isinstance(data.get("amount"), str):
            data["amount"] = _amount_read(data["amount"])
        value = super().to_internal_value(data)
        if occurred_at is not None:
            try:
                value["occurred_at"] = checks.timestamp_check(occurred_at, now=timezone.now())
            except ValueError as exc:
                raise serializers.ValidationError({"occurred_at": [str(exc)]}) from None
        return value


def _amount_read(text: str) -> str | None:
    """An amount sent as text, read as the sales page reads one in the site's language (the
    API answers in English, but a CRM beside a Spanish site writes "S/ 1.000,00", as a CSV
    import's numbers are read), with its currency or not, as its figure; blank text is none.
    Text the sales page would refuse is refused here too, naming why: DRF's own reading
    took "١٢٣" (Arabic-Indic digits) for 123 and "-0" for an amount."""
    language = settings.LANGUAGE_CODE
    thousands = get_format("THOUSAND_SEPARATOR", lang=language)
    decimal = get_format("DECIMAL_SEPARATOR", lang=language)
    try:
        amount = typed.amount_from_text(text, thousands=thousands, decimal=decimal)
    except ValueError:
        reason, code = _amount_unread(text, thousands=thousands, decimal=decimal)
        raise serializers.ValidationError({"amount": [ErrorDetail(reason, code=code)]}) from None
    if amount is not None and amount > outcomes.AMOUNT_MAX:
        raise serializers.ValidationError({"amount": [ErrorDetail(_TOO_LARGE, code="max_whole_digits")]})
    return None if amount is None else str(amount)


_SIGNED = re.compile(r"[^0-9]*[-\N{MINUS SIGN}][0-9]")
_NOT_FINITE = re.compile(r"[+-]?(?:s?nan|inf|infinity)", re.IGNORECASE)
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+")
_TOO_LARGE = f"at most {outcomes.AMOUNT_MAX}."
# More digits in a row than an amount has before its decimal point.
_TOO_LONG = re.compile(rf"[0-9]{{{outcomes.AMOUNT_MAX_DIGITS - outcomes.AMOUNT_DECIMAL_PLACES + 1},}}")


def _amount_unread(text: str, *, thousands: str, decimal: str) -> tuple[str, str]:
    """Why ``text`` is no amount, and the code of that refusal (DRF's, where DRF refused it)."""
    text = text.strip()
    if _SIGNED.match(text):
        return "must be zero or more, written without a sign.", "min_value"
    if _NOT_FINITE.fullmatch(text):
        return "must be a number: NaN and Infinity are none.", errors.INVALID
    if any(char.isdigit() and not char.isascii() for char in text):
        return "must be written in the digits 0 to 9.", errors.INVALID
    if _EXPONENT.fullmatch(text):
        return 'must be written out ("1000.00"), not with an exponent; or send it as a JSON number.', errors.INVALID
    if _TOO_LONG.search(text):
        return _TOO_LARGE, "max_whole_digits"
    if re.search(rf"[0-9]{re.escape(decimal)}[0-9]{{3,}}$", text):  # as DRF said it
        return (
            f"Ensure that there are no more than {outcomes.AMOUNT_DECIMAL_PLACES} decimal places.",
            "max_decimal_places",
        )
    return (
        f'must be a number such as "12500" or "12500.50", its thousands grouped or not as the site\'s '
        f'language writes them ("12{thousands}500{decimal}50"), with its currency\'s ISO 4217 code or sign '
        'before or after it if you like ("PEN", "S/").',
        errors.INVALID,
    )


class OutcomeByRefSerializer(OutcomeInSerializer):
    lead = LeadRefSerializer(help_text="The lead, by email or external id (it must exist).")


OutcomeOutSerializer = inline_serializer(
    "RecordedOutcome",
    {
        "id": serializers.IntegerField(),
        "lead": serializers.IntegerField(),
        "kind": serializers.ChoiceField(choices=list(outcomes.KINDS.items())),
        "amount": serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True),
        "reason": serializers.CharField(),
        "client_id": serializers.CharField(allow_null=True),
        "occurred_at": serializers.DateTimeField(),
        "created": serializers.BooleanField(help_text="False: this client_id was recorded before; nothing changed."),
        "lifecycle_stage": serializers.CharField(help_text="The lead's stage now."),
    },
)
FieldErrorSerializer = inline_serializer(
    "FieldErrors", {"field": serializers.ListField(child=serializers.CharField(), help_text="by field name")}
)
_OUTCOME_RESPONSES = {
    201: OutcomeOutSerializer,
    200: OutcomeOutSerializer,
    400: FieldErrorSerializer,
    401: ErrorSerializer,
    403: ScopeErrorSerializer,
    404: ErrorSerializer,
}
_OUTCOME_EXAMPLES = [
    OpenApiExample("Won", value={"kind": "won", "amount": "12500.00", "client_id": "deal-88:won"}, request_only=True),
    OpenApiExample("Lost", value={"kind": "lost", "reason": "chose a competitor"}, request_only=True),
]


def _lead_by_ref(data: Any) -> int:
    """The id of the lead ``data["lead"]`` names (email, external id or both), or 400/404
    naming the field: given both, they must name the same lead."""
    ref = data.get("lead") if isinstance(data, dict) else None
    if not isinstance(ref, dict) or not ({"email", "external_id"} & set(ref)):
        raise exceptions.ValidationError({"lead": ['give the lead as {"email": …} or {"external_id": …}']})
    unknown = set(ref) - {"email", "external_id"}
    if unknown:
        raise exceptions.ValidationError(errors.unknown_fields(unknown, prefix="lead."))
    email = external_id = None
    problems: dict[str, list[str]] = {}
    if ref.get("email") is not None:
        try:
            email = checks.email_normalize(ref["email"])
        except ValueError as exc:
            problems[lead_refs.EMAIL_FIELD] = [str(exc)]
    if ref.get("external_id") is not None or ref.get("email") is None:
        try:
            external_id = checks.lead_id_check(ref.get("external_id"))
        except ValueError as exc:
            problems[lead_refs.EXTERNAL_ID_FIELD] = [str(exc)]
    if problems:
        raise exceptions.ValidationError(problems)
    found = lead_refs.lead_refs_find(emails=[email] if email else [], external_ids=[external_id] if external_id else [])
    mismatch = lead_refs.lead_ref_mismatch(found, email=email, external_id=external_id)
    if mismatch is not None:
        raise exceptions.ValidationError(mismatch.detail())
    if email is not None:
        if email not in found.by_email:
            raise exceptions.NotFound({lead_refs.EMAIL_FIELD: [f"no lead has the email {email}"]})
        return found.by_email[email]
    assert external_id is not None
    if external_id not in found.by_external_id:
        raise exceptions.NotFound({lead_refs.EXTERNAL_ID_FIELD: [f"no lead has the external id {external_id}"]})
    return found.by_external_id[external_id]


def _outcome_record(request: Request, lead_id: int) -> Response:
    incoming = OutcomeInSerializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    data = incoming.validated_data
    try:
        recorded = outcomes.recorder()(
            outcomes.ReportedOutcome(
                lead_id=lead_id,
                kind=data["kind"],
                amount=data.get("amount"),
                reason=data.get("reason") or "",
                client_id=data.get("client_id"),
                source=f"api:{request_api_key(request).prefix}",
                at=data.get("occurred_at"),
            )
        )
    except outcomes.OutcomeRefused as exc:
        if exc.field == "lead":
            raise exceptions.NotFound(str(exc.message)) from None
        raise exceptions.ValidationError({exc.field: [ErrorDetail(exc.message, code=exc.code)]}) from None
    body = {
        "id": recorded.id,
        "lead": recorded.lead_id,
        "kind": recorded.kind,
        "amount": str(recorded.amount) if recorded.amount is not None else None,
        "reason": recorded.reason,
        "client_id": recorded.client_id,
        "occurred_at": recorded.at,
        "created": recorded.created,
        "lifecycle_stage": recorded.lifecycle_stage,
    }
    return Response(body, status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK)


class LeadOutcomesView(ScopedAPIView):
    required_scopes = {"POST": ApiScope.OUTCOMES_WRITE}

    @extend_schema(
        operation_id="leads_outcomes_create",
        request=OutcomeInSerializer,
        responses=_OUTCOME_RESPONSES,
        examples=_OUTCOME_EXAMPLES,
    )
    def post(self, request: Request, lead_id: int) -> Response:
        """Record what happened to the lead in your CRM: an opportunity was created (its stage
        becomes opportunity, unless it is a customer), the deal was won (it becomes a customer;
        give the amount) or lost (give the reason). The lead changes as when a rep records it
        on the sales page, and an open sales queue item of the lead is closed won or lost; a
        lead in no queue gets the outcome all the same. With a client_id the outcome is
        recorded once: sent again it answers 200 with the first one (created: false); sent
        again saying something else, 400 naming client_id."""
        body_size_check(request)
        if not Lead.objects.filter(pk=lead_id).exists():
            raise exceptions.NotFound(f"There is no lead {lead_id}.")
        if isinstance(request.data, dict) and "lead" in request.data:
            raise exceptions.ValidationError({"lead": ["the lead is in the path here; leave it out of the body"]})
        return _outcome_record(request, lead_id)


class OutcomesView(ScopedAPIView):
    required_scopes = {"POST": ApiScope.OUTCOMES_WRITE}

    @extend_schema(
        operation_id="outcomes_create",
        request=OutcomeByRefSerializer,
        responses=_OUTCOME_RESPONSES,
        examples=[
            OpenApiExample(
                "Won, by external id",
                value={"lead": {"external_id": "crm-4471"}, "kind": "won", "amount": "980"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        """Record what happened to the lead in your CRM: an opportunity was created (its stage
        becomes opportunity, unless it is a customer), the deal was won (it becomes a customer;
        give the amount) or lost (give the reason). The lead changes as when a rep records it
        on the sales page, and an open sales queue item of the lead is closed won or lost; a
        lead in no queue gets the outcome all the same. With a client_id the outcome is
        recorded once: sent again it answers 200 with the first one (created: false); sent
        again saying something else, 400 naming client_id. The lead is named
        in the body, by email or external id, and must exist."""
        body_size_check(request)
        lead_id = _lead_by_ref(request.data)
        return _outcome_record(request, lead_id)


# --- score history --------------------------------------------------------------

HISTORY_PAGE = 50
HISTORY_PAGE_MAX = 200

ScoreHistorySerializer = inline_serializer(
    "ScoreHistory",
    {
        "results": inline_serializer(
            "ScoreHistoryRow",
            {
                "id": serializers.IntegerField(),
                "at": serializers.DateTimeField(help_text="When the row was written."),
                "occurred_at": serializers.DateTimeField(help_text="When what caused it happened."),
                "dimension": serializers.ChoiceField(choices=["fit", "engagement"]),
                "delta": serializers.IntegerField(),
                "cause": serializers.ChoiceField(choices=["rule", "revised", "rescore", "decay", "manual"]),
                "rule": serializers.DictField(allow_null=True, help_text="{id, name} of the rule, if any."),
                "interaction": serializers.DictField(allow_null=True, help_text="{id, type, occurred_at}, if any."),
                "note": serializers.CharField(),
            },
            many=True,
        ),
        "next": serializers.URLField(allow_null=True, help_text="The next (older) page; null on the last."),
        "next_cursor": serializers.CharField(allow_null=True),
    },
)


def _positive(value: str, *, name: str, maximum: int) -> int:
    number = typed.id_from_text(value)
    if number is None or number > maximum:
        raise exceptions.ValidationError({name: [f"must be a whole number from 1 to {maximum}"]})
    return number


class LeadScoreHistoryView(ScopedAPIView):
    required_scopes = {"GET": ApiScope.LEADS_READ}

    @extend_schema(
        operation_id="leads_score_history",
        parameters=[
            OpenApiParameter(
                "limit", int, description=f"Rows per page, 1 to {HISTORY_PAGE_MAX}; default {HISTORY_PAGE}."
            ),
            OpenApiParameter("cursor", str, description="From the previous page's next_cursor (or follow next)."),
        ],
        responses={
            200: ScoreHistorySerializer,
            400: FieldErrorSerializer,
            401: ErrorSerializer,
            403: ScopeErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request, lead_id: int) -> Response:
        """Every change of the lead's score (its ledger), newest first, with its cause: the rule and the
        interaction that earned it, a revision by a late interaction, a rescore, decay, or a change by
        hand. Pages follow a cursor, so rows written while you read never shift or repeat a page."""
        if not Lead.objects.filter(pk=lead_id).exists():
            raise exceptions.NotFound(f"There is no lead {lead_id}.")
        limit = _positive(request.query_params.get("limit", str(HISTORY_PAGE)), name="limit", maximum=HISTORY_PAGE_MAX)
        cursor = request.query_params.get("cursor")
        before = None if cursor is None else _positive(cursor, name="cursor", maximum=typed.ID_MAX)
        rows = selectors.lead_ledger_page(lead_id=lead_id, before_id=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = str(rows[-1].pk) if more else None
        next_url = None
        if next_cursor is not None:
            next_url = request.build_absolute_uri(f"{request.path}?limit={limit}&cursor={next_cursor}")
        results = [
            {
                "id": row.pk,
                "at": row.created_at,
                "occurred_at": row.occurred_at,
                "dimension": row.dimension,
                "delta": row.delta,
                "cause": row.cause,
                "rule": {"id": row.rule_id, "name": row.rule.name} if row.rule else None,
                "interaction": (
                    {"id": row.interaction_id, "type": row.interaction.type, "occurred_at": row.interaction.occurred_at}
                    if row.interaction
                    else None
                ),
                "note": row.note,
            }
            for row in rows
        ]
        return Response({"results": results, "next": next_url, "next_cursor": next_cursor})
