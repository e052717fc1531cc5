"""The suppression list: addresses nurture never mails, kept as hashes so they
outlive the lead's erasure (see :class:`scoring.models.SuppressedAddress`).

This module is the list's only writer. Nurture calls :func:`leads_suppress` when
a lead unsubscribes and asks :func:`addresses_suppressed` before it enrolls or
sends; erasure keeps an address's hash here when the person had opted out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from scoring.models import Lead, SuppressedAddress

Reason = SuppressedAddress.Reason

# Reasons that mean the person said no (rather than the address failing): a lead
# with such an address is shown as unsubscribed.
CONSENT_REASONS = frozenset({Reason.UNSUBSCRIBED, Reason.COMPLAINED, Reason.MANUAL})


def address_normalise(address: str) -> str:
    return address.strip().lower()


def address_hash(address: str) -> str:
    """The list's key for ``address``: SHA-256 (hex) of its normalised form."""
    return hashlib.sha256(address_normalise(address).encode("utf-8", "surrogatepass")).hexdigest()


def addresses_suppressed(*, addresses: Iterable[str]) -> dict[str, Reason]:
    """Which of ``addresses`` are on the list, and why: normalised address -> reason. One query."""
    by_hash = {address_hash(a): address_normalise(a) for a in addresses if a and a.strip()}
    if not by_hash:
        return {}
    rows = SuppressedAddress.objects.filter(address_hash__in=list(by_hash)).values_list("address_hash", "reason")
    return {by_hash[digest]: Reason(reason) for digest, reason in rows}


def addresses_suppress(*, addresses: Iterable[str], reason: Reason, at: datetime | None = None) -> int:
    """Put ``addresses`` on the list. An address already there keeps its first reason
    and date. Returns how many were added; safe to call twice and concurrently."""
    at = at or timezone.now()
    digests = sorted({address_hash(a) for a in addresses if a and a.strip()})
    if not digests:
        return 0
    known = set(SuppressedAddress.objects.filter(address_hash__in=digests).values_list("address_hash", flat=True))
    SuppressedAddress.objects.bulk_create(
        [SuppressedAddress(address_hash=d, reason=reason, suppressed_at=at) for d in digests if d not in known],
        ignore_conflicts=True,  # a concurrent caller added the same address: one row either way
    )
    return len(set(digests) - known)


def leads_suppress(*, lead_ids: Iterable[int], reason: Reason, at: datetime | None = None) -> int:
    """Put these leads' addresses on the list (leads without an email are skipped)."""
    emails = Lead.objects.filter(pk__in=list(lead_ids), email__isnull=False).values_list("email", flat=True)
    return addresses_suppress(addresses=[e for e in emails if e], reason=reason, at=at)


def address_erased(*, address: str, unsubscribed: bool, at: datetime | None = None) -> bool:
    """The lead with ``address`` is being erased: keep its hash on the list when the
    person had opted out (``unsubscribed``) or the address was already listed (it
    bounced, a complaint, by hand), and mark the entry erased. Returns whether the
    address stays suppressed. An address that was never listed is not added: the
    person did not ask not to be mailed, only to be forgotten."""
    at = at or timezone.now()
    if not address or not address.strip():
        return False
    if unsubscribed:
        addresses_suppress(addresses=[address], reason=Reason.UNSUBSCRIBED, at=at)
    return SuppressedAddress.objects.filter(address_hash=address_hash(address)).update(erased_at=at) > 0


def leads_unsubscribe_suppressed(*, lead_ids: Iterable[int], at: datetime | None = None) -> list[int]:
    """Show as unsubscribed the leads whose address is on the list for a reason of
    consent (a lead created again, after its erasure, from an event with the same
    address). Returns the ids of the leads changed."""
    at = at or timezone.now()
    leads = list(
        Lead.objects.filter(pk__in=list(lead_ids), unsubscribed_at__isnull=True, email__isnull=False).values_list(
            "pk", "email"
        )
    )
    listed = addresses_suppressed(addresses=[email for _, email in leads if email])
    ids = [pk for pk, email in leads if email and listed.get(address_normalise(email)) in CONSENT_REASONS]
    if ids:
        Lead.objects.filter(Q(pk__in=ids), Q(unsubscribed_at__isnull=True)).update(unsubscribed_at=at)
    return ids
