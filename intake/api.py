"""The HTTP API under /api/v1/ (Django REST framework). Views are thin: they
check the request and call services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from intake import errors, ingest
from intake import events as checks
from intake.api_keys import KeyHasScope, request_api_key, required_scope
from intake.bodies import JSONBodyParser, PayloadTooLarge
from intake.models import ApiScope
from scoring import erasure, event_types, lead_fields, localized, numbers, selectors, services
from scoring.models import Lead, validate_time_zone

# The largest value the lead's integer columns take (PostgreSQL integer).
MAX_INT_COLUMN = 2_147_483_647


class ScopedAutoSchema(AutoSchema):
    """Says in each operation's description which key scope it needs."""

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular's signature, not DRF's
        description: str = super().get_description() or ""
        scope = required_scope(self.view, self.method)
        if scope is None:
            return description
        needs = f"Needs an API key with the scope `{scope.value}` ({scope.english_label}); without it: 403."
        return f"{description}\n\n{needs}" if description else needs


class ScopedAPIView(APIView):
    """An API view whose methods each need a key scope: ``required_scopes = {"GET": ApiScope.LEADS_READ}``.
    Its JSON body was checked (depth, surrogates, size) before authentication, by intake.bodies."""

    required_scopes: ClassVar[Mapping[str, ApiScope]] = {}
    permission_classes = [permissions.IsAuthenticated, KeyHasScope]
    parser_classes = [JSONBodyParser]
    schema = ScopedAutoSchema()


def body_size_check(request: Request) -> None:
    """Refuse a body over the limit before reading it, with a clear error."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise exceptions.ParseError("Content-Length is not a number.") from None
    if limit is not None and length > limit:
        raise PayloadTooLarge(f"The body is {length} bytes; the limit is {limit} bytes.")


# --- schema (documentation; the checks themselves are in intake.events) --------


class LeadRefSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField(required=False)
    external_id = serializers.CharField(required=False, max_length=checks.MAX_ID_LENGTH)


class EventSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=checks.MAX_ID_LENGTH, help_text="Your unique id: repeats are ignored.")
    type = serializers.RegexField(
        # For the schema (ECMA-262 pattern); the check is scoring.event_types.type_name_problem.
        f"^{event_types.TYPE_NAME.pattern}$",
        max_length=event_types.MAX_LENGTH,
        help_text=f"A type name: built in ({', '.join(event_types.BUILT_IN)}) or your own, e.g. trial_started; "
        f"{event_types.TYPE_NAME_RULE}.",
    )
    occurred_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601 with time zone, from 1970 to a day ahead; default: now."
    )
    lead = LeadRefSerializer(required=False, help_text="The lead (created if new). Or give visitor_id.")
    visitor_id = serializers.RegexField(
        # For the schema, whose patterns (ECMA-262) end "$" at the very end; the check is events.is_visitor_id.
        f"^{checks.VISITOR_ID.pattern}$",
        required=False,
        help_text="An anonymous visitor (the tracking cookie).",
    )
    properties = serializers.DictField(
        required=False, help_text="What rules match on: campaign, url, form… At most 10 levels deep."
    )


class EventBatchSerializer(serializers.Serializer[Any]):
    events = serializers.ListField(child=EventSerializer(), max_length=1000)


AcceptedSerializer = inline_serializer(
    "EventsAccepted",
    {
        "accepted": serializers.IntegerField(help_text="Events stored now."),
        "duplicates": serializers.IntegerField(help_text="Events whose id was seen before (ignored)."),
        "rejected": inline_serializer(
            "Rejection",
            {
                "index": serializers.IntegerField(),
                "id": serializers.JSONField(allow_null=True),
                "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
                "codes": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()),
                    help_text="The errors' stable codes, field by field (e.g. required, invalid, unknown_field).",
                ),
            },
            many=True,
        ),
    },
)
CODE = serializers.CharField(help_text="A stable code for programs (e.g. not_authenticated); the text may change.")
ErrorSerializer = inline_serializer("Error", {"detail": serializers.CharField(), "code": CODE})
ScopeErrorSerializer = inline_serializer(
    "ScopeError",
    {
        "detail": serializers.CharField(),
        "code": CODE,
        "required_scope": serializers.ChoiceField(choices=ApiScope.choices),
    },
)


class EventsView(ScopedAPIView):
    """Record interactions, one event or a batch of up to 1,000."""

    required_scopes = {"POST": ApiScope.EVENTS_WRITE}

    @extend_schema(
        operation_id="events_create",
        request=PolymorphicProxySerializer(
            component_name="EventsRequest",
            serializers=[EventSerializer, EventBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={
            202: AcceptedSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ScopeErrorSerializer,
            413: ErrorSerializer,
        },
        examples=[
            OpenApiExample(
                "One event",
                value={"id": "evt-1", "type": "email_open", "lead": {"email": "ana@example.com"}},
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        body_size_check(request)
        api_key = request_api_key(request)
        data = request.data
        if isinstance(data, dict) and "events" in data:
            if set(data) != {"events"}:
                raise exceptions.ValidationError({"events": ['send either one event or {"events": [...]}']})
            raws = data["events"]
            if not isinstance(raws, list):
                raise exceptions.ValidationError({"events": ["must be a list of events"]})
            limit = settings.LEADFLOW_MAX_BATCH_EVENTS
            if len(raws) > limit:
                raise exceptions.ValidationError(
                    {"events": [f"at most {limit} events per request, got {len(raws)}"]}, code="max_length"
                )
        elif isinstance(data, dict):
            raws = [data]
        else:
            raise exceptions.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        events, rejected = checks.events_check(raws, now=timezone.now())
        result = ingest.events_accept(events, source=f"api:{api_key.prefix}")
        rejected = sorted([*rejected, *result.rejected], key=lambda r: r.index)
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": [{"index": r.index, "id": r.id, "errors": r.errors, "codes": r.codes} for r in rejected],
            },
            status=status.HTTP_202_ACCEPTED,
        )


# --- leads ---------------------------------------------------------------------


def _lead_field(name: str) -> serializers.Field[Any, Any, Any, Any]:
    """The check of a lead field other systems may write, as its column allows."""
    column = Lead._meta.get_field(name)
    assert isinstance(column, models.Field), f"lead field {name} is not a column"
    if column.choices:
        return serializers.ChoiceField(choices=column.choices, required=False)
    if isinstance(column, models.JSONField):
        return serializers.DictField(required=False, help_text="Custom attributes, merged into those known.")
    if isinstance(column, models.DecimalField):
        # An amount (the annual revenue) is never below nothing.
        return SiteDecimalField(
            max_digits=column.max_digits,
            decimal_places=column.decimal_places,
            min_value=0,
            required=False,
            allow_null=True,
        )
    if isinstance(column, models.PositiveIntegerField):
        return SiteIntegerField(min_value=0, max_value=MAX_INT_COLUMN, required=False, allow_null=True)
    assert isinstance(column, models.CharField), f"lead field {name}: no API check for {type(column).__name__}"
    assert column.max_length, f"lead field {name}: a text column without a length"
    # NULL, not "", where the column takes NULL (an external id is unique unless NULL).
    kind = IdField if name == "external_id" else serializers.CharField
    return kind(max_length=column.max_length, required=False, allow_null=column.null, allow_blank=not column.null)


def site_number_check(data: Any) -> Any:
    """A number sent as text, read as the site's language writes it (LEADFLOW_LANGUAGE,
    whatever the caller's): "1.250,50" on a Spanish site, "1,250.50" on an English one, as
    rules read the attributes and a CSV import its cells. Text that is no number so is
    refused saying how the site writes one; anything else goes to the field's own check."""
    if not isinstance(data, str) or not data.strip():
        return data
    plain = numbers.site_number_text(data)
    if plain is None:
        raise serializers.ValidationError(
            gettext(
                "must be a number as the site's language writes it, such as {example} ('{decimal}' before the "
                "decimals), or a JSON number"
            ).format(example=localized.site_number_example(), decimal=localized.site_decimal_mark()),
            code=errors.INVALID,
        )
    return plain


class SiteDecimalField(serializers.DecimalField):
    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(site_number_check(data))


class SiteIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(site_number_check(data))


class IdField(serializers.CharField):
    """An id from another system, text or a whole number as JSON writes either (as
    intake.events reads a lead's): 1.5 is refused, not kept as the id "1.5"."""

    default_error_messages = {"invalid": "Must be text or a whole number."}

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, float):
            self.fail("invalid")
        return super().to_internal_value(data)


class LeadInSerializer(serializers.Serializer[Any]):
    """What other systems may set on a lead (upsert by email): the email and the fields
    scoring.lead_fields lets them write, each checked as its column allows."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        writable = [field.name for field in lead_fields.FIELDS if field.writable]
        return {
            "email": serializers.EmailField(max_length=254),
            **{name: _lead_field(name) for name in writable},
            "account_id": IdField(
                required=False,
                max_length=200,
                help_text="The company's id in your system: the lead belongs to that account (created if new) "
                "from then on, whatever its email's domain.",
            ),
        }

    def to_internal_value(self, data: Any) -> Any:
        # Unknown fields are refused by name, with the other fields' problems (all at once).
        refused = errors.unknown_fields(set(data) - set(self.fields) if isinstance(data, dict) else ())
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if refused and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **refused}) from None
            raise
        if refused:
            raise serializers.ValidationError(refused)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Text fields refuse NUL and lone surrogates themselves (DRF's CharField);
        # attributes are any JSON, so they are walked here.
        if attrs.get("attributes"):
            problem = checks.json_value_problem(
                attrs["attributes"], path="attributes", max_depth=checks.MAX_PROPERTIES_DEPTH
            )
            if problem:
                raise serializers.ValidationError({problem[0]: [problem[1]]})
            if reserved := sorted(lead_fields.RESERVED_ATTRIBUTES.intersection(attrs["attributes"])):
                raise serializers.ValidationError(
                    {f"attributes.{name}": [checks.RESERVED_ATTRIBUTE_MESSAGE] for name in reserved}
                )
            if len(attrs["attributes"]) > checks.MAX_ATTRIBUTES:
                reason = (
                    f"at most {checks.MAX_ATTRIBUTES} custom attributes per lead sent, got {len(attrs['attributes'])}"
                )
                raise serializers.ValidationError({"attributes": [reason]})
        if attrs.get("time_zone"):
            try:
                validate_time_zone(attrs["time_zone"])
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"time_zone": exc.messages}) from None
        return attrs


def lead_data(lead: Lead, *, full: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": lead.pk,
        "email": lead.email,
        "external_id": lead.external_id,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "title": lead.title,
        "department": lead.department,
        "company": lead.company,
        "account": lead.account_id,
        "industry": lead.industry,
        "company_size": lead.company_size,
        "annual_revenue": str(lead.annual_revenue) if lead.annual_revenue is not None else None,
        "country": lead.country,
        "city": lead.city,
        "attributes": lead.attributes,
        "lifecycle_stage": lead.lifecycle_stage,
        "owner": lead.owner.get_username() if lead.owner else None,
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "total_score": lead.fit_score + lead.engagement_score,
        "score_group": {"key": lead.score_group.key, "name": lead.score_group.name} if lead.score_group else None,
        "last_activity_at": lead.last_activity_at,
        "prediction": selectors.lead_prediction(lead_id=lead.pk),
    }
    if full:
        data["scorecards"] = [
            {
                "key": line.key,
                "name": line.name,
                "active": line.active,
                "fit_score": line.fit,
                "engagement_score": line.engagement,
                "total_score": line.total,
                "score_group": {"key": line.group_key, "name": line.group} if line.group_key else None,
            }
            for line in selectors.lead_scorecard_scores(lead_id=lead.pk)
        ]
        data["breakdown"] = [
            {"label": line.label, "sentence": line.sentence, "dimension": line.dimension, "points": line.points,
             "times": line.times}
            for line in selectors.lead_score_breakdown(lead=lead)
        ]  # fmt: skip
        data["recent_ledger"] = [
            {
                "at": entry.created_at,
                "dimension": entry.dimension,
                "delta": entry.delta,
                "cause": entry.cause,
                "rule": entry.rule.name if entry.rule else None,
                "interaction": entry.interaction.type if entry.interaction else None,
                "note": entry.note,
            }
            for entry in selectors.lead_ledger(lead=lead, limit=20)
        ]
    return data


_LEAD_OUT: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "id": serializers.IntegerField(),
    "email": serializers.EmailField(allow_null=True),
    "fit_score": serializers.IntegerField(),
    "engagement_score": serializers.IntegerField(),
    "total_score": serializers.IntegerField(),
    "score_group": serializers.DictField(allow_null=True),
    "lifecycle_stage": serializers.CharField(),
    "owner": serializers.CharField(allow_null=True),
    "prediction": serializers.DictField(
        allow_null=True, help_text="Predicted probability of converting: {probability, model_version, reasons}."
    ),
    "scorecards": serializers.ListField(
        child=inline_serializer(
            "LeadScorecardScore",
            {
                "key": serializers.CharField(help_text="The scorecard's key."),
                "name": serializers.CharField(),
                "active": serializers.BooleanField(help_text="False: retired, the score kept but no longer changed."),
                "fit_score": serializers.IntegerField(),
                "engagement_score": serializers.IntegerField(),
                "total_score": serializers.IntegerField(),
                "score_group": serializers.DictField(
                    allow_null=True, help_text="The scorecard's group the lead is in: {key, name}; null: none."
                ),
            },
        ),
        help_text=(
            "The lead's score on each scorecard beside the default one (whose score is fit_score, "
            "engagement_score, total_score and score_group above): every active scorecard (0 where "
            "nothing scored it yet), then the retired ones the lead has a score on. Read-only."
        ),
    ),
    "breakdown": serializers.ListField(child=serializers.DictField()),
    "recent_ledger": serializers.ListField(child=serializers.DictField()),
}
LeadOutSerializer = inline_serializer("Lead", _LEAD_OUT)
LeadListSerializer = inline_serializer("Lead", _LEAD_OUT, many=True)


def _lead(lead_id: int) -> Lead:
    lead = Lead.objects.select_related("score_group", "owner").filter(pk=lead_id).first()
    if lead is None:
        raise exceptions.NotFound(f"There is no lead {lead_id}.")
    return lead


class LeadsView(ScopedAPIView):
    required_scopes = {"GET": ApiScope.LEADS_READ, "POST": ApiScope.LEADS_WRITE}

    @extend_schema(
        operation_id="leads_upsert",
        request=LeadInSerializer,
        responses={
            200: LeadOutSerializer,
            201: LeadOutSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ScopeErrorSerializer,
            409: inline_serializer(
                "Conflict",
                {
                    "external_id": serializers.ListField(child=serializers.CharField()),
                    "error_codes": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
                },
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Create the lead with this email or update it; its fit score is re-evaluated.
        An ``external_id`` another lead already has is a conflict (409) and changes nothing."""
        body_size_check(request)
        incoming = LeadInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        fields = dict(incoming.validated_data)
        email = fields.pop("email")
        account_id = fields.pop("account_id", None)
        try:
            lead, created = services.lead_upsert(email=email.lower(), fields=fields, account_external_id=account_id)
        except services.LeadConflict as exc:
            return Response(
                errors.field_refusal(exc.field, exc.reason, errors.CONFLICT), status=status.HTTP_409_CONFLICT
            )
        return Response(lead_data(_lead(lead.pk)), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        operation_id="leads_find",
        parameters=[inline_serializer("LeadQuery", {"email": serializers.EmailField()})],
        responses={200: LeadListSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 403: ScopeErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        """Find a lead by email (case-insensitive): a list of none or one."""
        email = request.query_params.get("email", "").strip()
        if not email:
            raise exceptions.ValidationError({"email": ["give ?email=… to find a lead"]}, code=errors.REQUIRED)
        leads = Lead.objects.select_related("score_group", "owner").with_email(email)
        return Response([lead_data(lead) for lead in leads])


class LeadView(ScopedAPIView):
    required_scopes = {"GET": ApiScope.LEADS_READ, "DELETE": ApiScope.LEADS_ERASE}

    @extend_schema(
        operation_id="leads_read",
        responses={200: LeadOutSerializer, 401: ErrorSerializer, 403: ScopeErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, lead_id: int) -> Response:
        """A lead with its scores, group, and why: the breakdown by rule and the recent ledger."""
        return Response(lead_data(_lead(lead_id)))

    @extend_schema(
        operation_id="leads_erase",
        responses={
            200: inline_serializer(
                "Erased",
                {"erased": serializers.DictField(child=serializers.IntegerField(), help_text=erasure.ANSWER_HELP)},
            ),
            401: ErrorSerializer,
            403: ScopeErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def delete(self, request: Request, lead_id: int) -> Response:
        """Erase the person's data (privacy request) and say what was removed."""
        try:
            report = erasure.lead_erase(lead_id=lead_id)
        except Lead.DoesNotExist:
            raise exceptions.NotFound(f"There is no lead {lead_id}.") from None
        return Response({"erased": report.as_dict()})


@csrf_exempt  # a program's mistyped POST gets the API's 404, not the CSRF page
def api_not_found(request: HttpRequest, *args: object) -> JsonResponse:
    """A path under ``/api/v1/`` that names nothing (``/api/v1/leads/-1``): 404 in the
    API's shape, not the site's HTML page."""
    return JsonResponse({"detail": "No such endpoint or object.", "code": "not_found"}, status=404)
