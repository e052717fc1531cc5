"""The HTTP API under /api/v1/ (Django REST framework). Views are thin: they
check the request and call services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from scoring import events as checks
from scoring import ingest
from scoring.api_keys import request_api_key
from scoring.rules import INTERACTION_TYPES


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


def body_size_check(request: Request) -> None:
    """Refuse a body over the limit before reading it, with a clear error."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise exceptions.ParseError("Content-Length is not a number.") from None
    if limit is not None and length > limit:
        raise PayloadTooLarge(f"The body is {length} bytes; the limit is {limit} bytes.")


# --- schema (documentation; the checks themselves are in scoring.events) -------


class LeadRefSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField(required=False)
    external_id = serializers.CharField(required=False, max_length=checks.MAX_ID_LENGTH)


class EventSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=checks.MAX_ID_LENGTH, help_text="Your unique id: repeats are ignored.")
    type = serializers.ChoiceField(choices=list(INTERACTION_TYPES))
    occurred_at = serializers.DateTimeField(required=False, help_text="ISO 8601 with time zone; default: now.")
    lead = LeadRefSerializer(required=False, help_text="The lead (created if new). Or give visitor_id.")
    visitor_id = serializers.RegexField(
        checks.VISITOR_ID.pattern, required=False, help_text="An anonymous visitor (the tracking cookie)."
    )
    properties = serializers.DictField(required=False, help_text="What rules match on: campaign, url, form…")


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
            },
            many=True,
        ),
    },
)
ErrorSerializer = inline_serializer("Error", {"detail": serializers.CharField()})


class EventsView(APIView):
    """Record interactions, one event or a batch of up to 1,000."""

    @extend_schema(
        operation_id="events_create",
        request=PolymorphicProxySerializer(
            component_name="EventsRequest",
            serializers=[EventSerializer, EventBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={202: AcceptedSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 413: ErrorSerializer},
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
                raise exceptions.ValidationError({"events": [f"at most {limit} events per request, got {len(raws)}"]})
        elif isinstance(data, dict):
            raws = [data]
        else:
            raise exceptions.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        events, rejected = checks.events_check(raws, now=timezone.now())
        result = ingest.events_accept(events, source=f"api:{api_key.prefix}")
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": [{"index": r.index, "id": r.id, "errors": r.errors} for r in rejected],
            },
            status=status.HTTP_202_ACCEPTED,
        )
