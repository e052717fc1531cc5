"""Opens and clicks of nurture email counted onto their deliveries, for the figures."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from nurture.models import Delivery, EngagementCursor
from scoring import typed
from scoring.models import Interaction


def deliveries_tally_engagement(*, now: datetime | None = None, settle_seconds: int = 120, limit: int = 20_000) -> int:
    """Count new email opens and clicks (interactions recorded by the tracking
    endpoints, carrying the delivery's id) onto their deliveries. Returns how
    many opens and clicks were counted. An open or click counts only onto a
    delivery sent to its own lead, and never when a key used in web pages sent it.

    A cursor (the last interaction id looked at) advances in the same
    transaction as the counts, so each interaction counts once. It stops at the
    first interaction received less than ``settle_seconds`` ago: ids are handed
    out at insert, so a row whose transaction commits late could otherwise
    appear below the cursor after it moved on.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settle_seconds)
    with transaction.atomic():
        EngagementCursor.objects.get_or_create(pk=1)
        cursor = EngagementCursor.objects.select_for_update().get(pk=1)
        rows = Interaction.objects.filter(pk__gt=cursor.last_id).order_by("pk")
        last_id = cursor.last_id
        named: list[tuple[int, int | None, int]] = []  # (delivery, the interaction's lead, 0 open / 1 click)
        fields = ("pk", "type", "properties", "received_at", "lead_id", "idempotency_key")
        for pk, kind, properties, received_at, lead_id, key in rows.values_list(*fields)[:limit]:
            if received_at > cutoff:
                break
            last_id = pk
            if kind not in ("email_open", "email_click") or not isinstance(properties, dict):
                continue
            if key.startswith(Interaction.FROM_A_PAGE):
                # A key used in web pages is anyone's, and it can name any lead by email:
                # nurture's opens and clicks come through its signed links or from servers.
                continue
            delivery = _delivery_id(properties.get("delivery"))
            if delivery is not None:
                named.append((delivery, lead_id, 0 if kind == "email_open" else 1))
        # Any key that sends events can name any "delivery" (their ids count up from 1, and
        # a key used in web pages is anyone's): only a real one, sent to the interaction's
        # own lead, is counted.
        sent_to = (
            dict(Delivery.objects.filter(pk__in={d for d, _, _ in named}).values_list("pk", "enrollment__lead_id"))
            if named
            else {}
        )
        counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for delivery, lead_id, index in named:
            if lead_id is not None and sent_to.get(delivery) == lead_id:
                counts[delivery][index] += 1
        counted = sum(opens + clicks for opens, clicks in counts.values())
        if counts:
            updates: dict[str, Any] = {}
            for index, name in enumerate(("opens", "clicks")):
                cases = [When(pk=pk, then=F(name) + Value(n[index])) for pk, n in counts.items() if n[index]]
                if cases:
                    updates[name] = Case(*cases, default=F(name), output_field=models.PositiveIntegerField())
            Delivery.objects.filter(pk__in=list(counts)).update(**updates)
        if last_id != cursor.last_id:
            cursor.last_id = last_id
            cursor.save(update_fields=["last_id", "updated_at"])
        return counted


def _delivery_id(value: object) -> int | None:
    """The delivery id an open or click names (a whole number, or its ASCII digits), or
    None: a yes or no, "²" (a digit to ``isdigit`` that ``int`` refuses) or a number
    past the column's would otherwise stop the tally at that row, every run."""
    if isinstance(value, str):
        return typed.id_from_text(value)
    if type(value) is int and 0 < value <= typed.ID_MAX:
        return value
    return None
