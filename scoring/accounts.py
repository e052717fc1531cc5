"""Which account a lead belongs to, and an account's roll-up of its leads' scores. Pure:
no database here (scoring.services.accounts reads and writes)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import StrEnum


def email_domain(email: str | None) -> str:
    """The lower-cased domain of ``email`` ("" when it has none)."""
    email = (email or "").strip()
    return email.rpartition("@")[2].lower().rstrip(".") if "@" in email else ""


def business_domain(email: str | None, *, free_mail: Collection[str]) -> str | None:
    """The domain that names the lead's company, or None: no email, or a free-mail
    provider's domain (``free_mail``, lower-cased), which says nothing about where the
    person works."""
    domain = email_domain(email)
    return domain if domain and domain not in free_mail else None


class Rollup(StrEnum):
    """How an account's leads' scores make its lead score."""

    SUM = "sum"
    MAX = "max"
    TOP_AVERAGE = "top_average"


def rounded_average(total: int, count: int) -> int:
    """``total / count`` to the nearest whole point, halves away from zero (as people
    round), the same on every database: scores are whole points."""
    if count <= 0:
        return 0
    magnitude = (2 * abs(total) + count) // (2 * count)
    return magnitude if total >= 0 else -magnitude


def rollup(scores: Iterable[int], *, method: Rollup, top_n: int) -> int:
    """The account's lead score from its leads' total scores: their sum, their
    maximum, or the average of the best ``top_n``; 0 without leads."""
    ordered = sorted(scores, reverse=True)
    if not ordered:
        return 0
    if method is Rollup.SUM:
        return sum(ordered)
    if method is Rollup.MAX:
        return ordered[0]
    best = ordered[: max(1, top_n)]
    return rounded_average(sum(best), len(best))
