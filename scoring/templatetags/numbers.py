"""``{{ value|figure }}``: a number, a table's figure or a date as the reader writes it
(see scoring.localized); ``{{ value|percent }}`` a percentage with one decimal."""

from __future__ import annotations

from decimal import Decimal

from django import template

from scoring import localized

register = template.Library()


@register.filter
def figure(value: object) -> object:
    return localized.figure(value)


@register.filter
def percent(value: float | Decimal | None, decimals: int = 1) -> str:
    return "" if value is None else localized.percent(value, decimals)
