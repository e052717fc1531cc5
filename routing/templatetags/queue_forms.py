"""The sales queue's action forms shown again after the server refused what was typed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import template

if TYPE_CHECKING:
    from routing.views import Refused

register = template.Library()


@register.simple_tag
def refusal(refused: Refused | None, item_id: int, verb: str) -> Refused | None:
    """``refused`` if it is this item's ``verb`` form (its values and problems to show), else None."""
    if refused is not None and refused.item_id == item_id and refused.verb == verb:
        return refused
    return None
