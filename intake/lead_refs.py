"""A lead named by email, by external id or by both, as every door that takes a lead
reference (``{"email": …, "external_id": …}``) reads it: events (the API's, and
Segment's track and page) and outcomes.

Named both ways, the two must name the same lead: an email of one lead with the
external id of another is refused naming both, rather than the one looked up first
silently winning. An external id no lead has is no mismatch. An email no
lead has with the external id of a lead is refused too, naming both: an event
(intake.ingest) or an identify would make a new lead, a different one; an outcome is
refused alike rather than told that no lead has the email, as if the id named no one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext
from rest_framework.exceptions import ErrorDetail

from intake import errors
from scoring import services as scoring
from scoring.models import Lead

EMAIL_FIELD, EXTERNAL_ID_FIELD = "lead.email", "lead.external_id"


@dataclass(frozen=True)
class LeadsFound:
    """The leads some references name: lead id by (lower-cased) email and by external id."""

    by_email: dict[str, int]
    by_external_id: dict[str, int]


def lead_refs_find(*, emails: Iterable[str], external_ids: Iterable[str]) -> LeadsFound:
    """The leads with these emails (checked, lower-cased) and external ids; two queries at most."""
    ids = set(external_ids)
    rows = Lead.objects.filter(external_id__in=ids).values_list("external_id", "pk") if ids else []
    return LeadsFound(scoring.leads_by_email(emails), {external_id: pk for external_id, pk in rows if external_id})


@dataclass(frozen=True)
class Mismatch:
    """A reference whose email and external id name two different leads: the refusal of
    each field, with its code (intake.errors)."""

    errors: dict[str, list[str]]
    codes: dict[str, list[str]]

    def detail(self) -> dict[str, list[ErrorDetail]]:
        """The refusal as DRF's error detail, each reason with its code."""
        return {
            name: [ErrorDetail(reason, code=code) for reason, code in zip(reasons, self.codes[name], strict=True)]
            for name, reasons in self.errors.items()
        }


def lead_ref_mismatch(found: LeadsFound, *, email: str | None, external_id: str | None) -> Mismatch | None:
    """The refusal of a reference naming one lead by ``email`` and another by
    ``external_id`` (both as found in ``found``), or None: the same lead, only one named,
    or an external id no lead has. An email no lead has with a lead's external id names
    another lead than the id's (one that would be new)."""
    by_external_id = found.by_external_id.get(external_id) if external_id else None
    if not email or by_external_id is None or found.by_email.get(email) == by_external_id:
        return None
    return mismatch()


def mismatch() -> Mismatch:
    """The refusal of a reference whose email and external id name two different leads."""
    reasons = {
        EMAIL_FIELD: gettext("names a different lead than the external id does; give one lead"),
        EXTERNAL_ID_FIELD: gettext("names a different lead than the email does; give one lead"),
    }
    return Mismatch(
        errors={name: [reason] for name, reason in reasons.items()},
        codes={name: [errors.LEAD_MISMATCH] for name in reasons},
    )
