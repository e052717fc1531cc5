"""Event types: counted as interactions are stored, declared by the model file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from scoring import event_types as types
from scoring import model_file
from scoring.models import EventType, SegmentEvent


def event_types_seen(*, seen: Iterable[tuple[str, datetime]]) -> None:
    """Count newly stored interactions, given as (type, occurred_at), under their types:
    one statement whatever their number. New types get a row; a type's seen dates widen
    to take in the interactions' times.

    Call in the transaction that stores them, so the counts hold exactly what was
    stored (a repeat is not stored, so not counted). Concurrent batches lock the type
    rows they touch in key order, so they wait for each other instead of deadlocking.
    """
    counts: Counter[str] = Counter()
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for kind, occurred_at in seen:
        counts[kind] += 1
        if kind not in first or occurred_at < first[kind]:
            first[kind] = occurred_at
        if kind not in last or occurred_at > last[kind]:
            last[kind] = occurred_at
    if not counts:
        return
    table = connection.ops.quote_name(EventType._meta.db_table)
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for kind in sorted(counts):
        params += [kind, counts[kind], adapt(first[kind]), adapt(last[kind])]
    values = ", ".join(["(%s, '', false, %s, %s, %s)"] * len(counts))
    # PostgreSQL's LEAST ignores a NULL; SQLite's MIN does not, hence COALESCE.
    sql = (
        f"INSERT INTO {table} (key, label, declared, seen_count, first_seen_at, last_seen_at) "  # noqa: S608
        f"VALUES {values} ON CONFLICT (key) DO UPDATE SET "
        f"seen_count = {table}.seen_count + excluded.seen_count, "
        f"first_seen_at = {least}(COALESCE({table}.first_seen_at, excluded.first_seen_at), excluded.first_seen_at), "
        f"last_seen_at = {greatest}(COALESCE({table}.last_seen_at, excluded.last_seen_at), excluded.last_seen_at)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def event_types_declare(*, specs: Sequence[model_file.EventTypeSpec]) -> list[str]:
    """Make the declared types and the Segment event names those of ``specs`` (a model
    file's ``event_types``): types declared before but not in it are declared no more
    (their counts stay), and every Segment name maps as the file says. Returns lines for
    the import's summary. Call inside the import's transaction."""
    wanted = {spec.key: spec for spec in specs}
    dropped = EventType.objects.filter(declared=True).exclude(key__in=wanted).update(declared=False, label="")
    EventType.objects.bulk_create([EventType(key=key) for key in sorted(wanted)], ignore_conflicts=True)
    # Only a type whose declaration changes is written, by a statement that passes over the
    # others without locking them: the intake counts every event it stores on its type's row
    # (event_types_seen), and a row written here stays locked until the import commits,
    # which a publish from the command line holds while it rescores every lead. Writing
    # every declared type held back the events of all of them for as long. In key order,
    # as the intake locks them.
    for key in sorted(wanted):
        label = "" if key in types.BUILT_IN else wanted[key].label
        EventType.objects.filter(key=key).exclude(declared=True, label=label).update(declared=True, label=label)
    rows = dict(EventType.objects.filter(key__in=wanted).values_list("key", "pk"))
    SegmentEvent.objects.all().delete()
    SegmentEvent.objects.bulk_create(
        SegmentEvent(name=name, event_type_id=rows[spec.key]) for spec in specs for name in spec.segment_events
    )
    mapped = sum(len(spec.segment_events) for spec in specs)
    line = f"Event types: {len(specs)} declared, {mapped} Segment event names mapped"
    return [line + (f", {dropped} no longer declared." if dropped else ".")]


def event_types_export() -> tuple[model_file.EventTypeSpec, ...]:
    """The declared types and those Segment names map to, as the model file holds them."""
    names: dict[int, list[str]] = {}
    for type_id, name in SegmentEvent.objects.order_by("event_type_id", "name").values_list("event_type_id", "name"):
        names.setdefault(type_id, []).append(name)
    return tuple(
        model_file.EventTypeSpec(row.key, "" if row.built_in else row.label, tuple(names.get(row.pk, ())))
        for row in EventType.objects.order_by("key")
        if row.declared or row.pk in names
    )
