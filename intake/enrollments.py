"""Nurture over the HTTP API: enroll a lead in a sequence, or take it out."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from intake import errors
from intake.api import ErrorSerializer, ScopedAPIView, ScopeErrorSerializer
from intake.models import ApiScope
from nurture import services
from nurture.models import Sequence
from scoring.models import Lead


class EnrollmentInSerializer(serializers.Serializer[Any]):
    sequence = serializers.SlugField(help_text="The sequence's key, e.g. nurture.")
    email = serializers.EmailField(help_text="The lead's email (the lead must exist).")


EnrollmentOutSerializer = inline_serializer(
    "EnrollmentResult",
    {
        "enrolled": serializers.BooleanField(),
        "enrollment": serializers.IntegerField(allow_null=True),
        "reason": serializers.CharField(help_text="Why not, when not enrolled."),
    },
)


def _target(data: Any) -> tuple[Lead, Sequence]:
    incoming = EnrollmentInSerializer(data=data)
    valid = incoming.is_valid()
    # Fields it does not take are refused by name rather than ignored (a stage, owner or
    # score sent here changes nothing), with the other fields' problems, all at once.
    unknown = errors.unknown_fields(set(data) - set(incoming.fields) if isinstance(data, dict) else ())
    if unknown or not valid:
        raise exceptions.ValidationError({**(incoming.errors if not valid else {}), **unknown})
    sequence = Sequence.objects.filter(key=incoming.validated_data["sequence"]).first()
    if sequence is None:
        raise exceptions.ValidationError({"sequence": ["no sequence has this key"]})
    lead = Lead.objects.with_email(incoming.validated_data["email"]).first()
    if lead is None:
        raise exceptions.ValidationError({"email": ["no lead has this email; create it with POST /api/v1/leads"]})
    return lead, sequence


class EnrollmentsView(ScopedAPIView):
    required_scopes = {"POST": ApiScope.ENROLLMENTS_WRITE, "DELETE": ApiScope.ENROLLMENTS_WRITE}

    @extend_schema(
        operation_id="enrollments_create",
        request=EnrollmentInSerializer,
        responses={
            201: EnrollmentOutSerializer,
            200: EnrollmentOutSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ScopeErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        """Enroll a lead in a sequence (consent, exit goals and re-enrollment policy permitting)."""
        lead, sequence = _target(request.data)
        result = services.enrollment_try_start(lead=lead, sequence=sequence)
        body = {
            "enrolled": result.enrollment is not None,
            "enrollment": result.enrollment.pk if result.enrollment else None,
            "reason": result.refusal,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.enrollment else status.HTTP_200_OK)

    @extend_schema(
        operation_id="enrollments_exit",
        request=EnrollmentInSerializer,
        responses={
            200: inline_serializer("EnrollmentExit", {"exited": serializers.BooleanField()}),
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ScopeErrorSerializer,
        },
    )
    def delete(self, request: Request) -> Response:
        """Take a lead out of a sequence."""
        lead, sequence = _target(request.data)
        return Response({"exited": services.enrollment_exit(lead=lead, sequence=sequence)})
