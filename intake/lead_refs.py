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


# A lead as a batch's references name it: its id; or a lead the batch makes, by the
# email that names it (a str) or, named by an external id alone, the door's own key.
Named = int | str | tuple[str | None, str | None]


class Naming:
    """The one rule of every door taking lead references, applied reference after
    reference through a batch (events, identifies; an outcome is a batch of one): named
    by both an email and an external id, the two must name one lead, counting the leads
    the batch makes (an email no lead has is a new lead, a different one from the lead an
    id names) and the external ids it gives as it goes (:meth:`give`). An external id no
    lead has is no mismatch."""

    def __init__(self, found: LeadsFound) -> None:
        self.found = found
        self.given: dict[str, Named] = {}

    def by_email(self, email: str) -> int | str:
        """The email's lead, or the email itself for the new lead it makes."""
        return self.found.by_email.get(email, email)

    def by_external_id(self, external_id: str) -> Named | None:
        """The lead holding the id, in the database or given it earlier in the batch."""
        return self.found.by_external_id.get(external_id) or self.given.get(external_id)

    def mismatched(self, email: str | None, external_id: str | None) -> bool:
        if not (email and external_id):
            return False
        holder = self.by_external_id(external_id)
        return holder is not None and holder != self.by_email(email)

    def give(self, external_id: str, lead: Named) -> None:
        """Later references find ``lead`` by ``external_id``, unless a lead holds it already."""
        if self.by_external_id(external_id) is None:
            self.given[external_id] = lead


def lead_ref_mismatch(found: LeadsFound, *, email: str | None, external_id: str | None) -> Mismatch | None:
    """The refusal of a reference naming one lead by ``email`` and another by
    ``external_id`` (both as found in ``found``), or None (:class:`Naming`)."""
    return mismatch() if Naming(found).mismatched(email, external_id) else None


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
