"""The names of the leads' custom attributes Leadflow knows (:class:`AttributeName`), so a
key used in web pages, which anyone can read from the page and send with, cannot spread
names of its own across many leads: each name is a column of the leads' export and a
field the admin and the rules offer. A trusted writer records the names it writes
(:func:`attribute_names_record`), and so do fit rules and tracked forms for the names they
test or write when they are saved (:func:`attribute_names_declare`); a key used in web
pages writes the names known so, those a rule tests, and at most a few new ones site-wide
(:func:`attribute_names_admit`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from django.db import connection, transaction

from scoring import lead_fields, model_file
from scoring.models import AttributeName, RuleCondition
from scoring.rules import CUSTOM_PREFIX, Dimension

# Names Leadflow itself writes on leads: routing's tags, and the traits an identify keeps
# as an attribute when their field cannot hold them (employees as "51-200").
BUILT_IN = frozenset({"tags", *(name for names in lead_fields.KEPT_AS.values() for name in names)})
# Taken by the transaction that brings new names from a page, so two cannot both see room
# for the last one (PostgreSQL; SQLite's transactions take the database when they begin).
_NEW_NAMES_LOCK = 0x1EAD_A77E


def attribute_names_record(
    names: Iterable[object], *, origin: AttributeName.Origin = AttributeName.Origin.WRITER
) -> None:
    """Record ``names`` as written by a trusted source (or, with ``origin``, named by a rule
    or a tracked form): one statement, which writes nothing for names known already (they
    keep where they came from first; names longer than a name may be are left out). Call in the
    transaction that writes them, before it takes any lead's row: a new name's row is held
    until it ends, and a concurrent writer of the same name waits for it, which must not be
    waiting for this one's leads. If the transaction rolls back, they are unknown again."""
    wanted = sorted({name for name in names if isinstance(name, str) and len(name) <= AttributeName.MAX_LENGTH})
    if wanted:
        AttributeName.objects.bulk_create(
            [AttributeName(name=name, origin=origin) for name in wanted], ignore_conflicts=True
        )


def attribute_names_declare(fields: Iterable[object], *, origin: AttributeName.Origin) -> None:
    """Record the custom attributes ``fields`` name (``attributes.<name>``, as a fit rule's
    condition or a tracked form's field names one; the others are left out) as known, where
    they came from being ``origin``, so a key used in web pages writes them before any
    trusted sender has (:func:`attribute_names_record`). They are recorded once the
    transaction saving the rule or form commits, in a transaction of their own: a publish
    rescoring every lead in its transaction holds no name's row, which a trusted sender
    writing that name would wait on."""
    names = [
        field.removeprefix(CUSTOM_PREFIX)
        for field in fields
        if isinstance(field, str) and field.startswith(CUSTOM_PREFIX)
    ]
    if names:
        transaction.on_commit(partial(attribute_names_record, names, origin=origin))


def fit_condition_fields(parts: Iterable[model_file.ModelSpec | model_file.ScorecardSpec]) -> list[str]:
    """The fields the fit rules of ``parts`` (a model file's default scorecard, its others)
    test: an engagement rule's conditions test an interaction's properties, not the lead."""
    return [
        condition.field
        for part in parts
        for rule in part.rules
        if rule.dimension == Dimension.FIT.value
        for condition in rule.conditions
    ]


@dataclass(frozen=True)
class Admitted:
    """What :func:`attribute_names_admit` decided: the names a key used in web pages may
    write, and those it may not (in the order given)."""

    names: frozenset[str]
    dropped: tuple[str, ...] = ()


def attribute_names_admit(names: Sequence[str], *, new_limit: int) -> Admitted:
    """Which of ``names`` (in the order a page sent them) a key used in web pages may write
    on leads: those known (:data:`BUILT_IN`, tested by a rule, or recorded), and new ones,
    in order, while fewer than ``new_limit`` names were brought by such keys; these are
    recorded as brought so. Two queries when every name is known, three when no room is left; else
    the transaction takes a lock until it ends, so concurrent batches never bring more than
    ``new_limit`` between them. Call inside a transaction, before it takes any lead's row
    (it may wait for another batch bringing names, which may be waiting for those rows)."""
    wanted = list(dict.fromkeys(name for name in names if name not in BUILT_IN))
    if not wanted:
        return Admitted(frozenset(names))
    declared = {
        field.removeprefix(CUSTOM_PREFIX)
        for field in RuleCondition.objects.filter(field__in=[CUSTOM_PREFIX + name for name in wanted])
        .values_list("field", flat=True)
        .distinct()
    }
    new = [name for name in wanted if name not in declared]
    new = _unrecorded(new)
    if not new:
        return Admitted(frozenset(names))
    room = new_limit - AttributeName.objects.filter(origin=AttributeName.Origin.PAGE).count() if new_limit > 0 else 0
    if room > 0:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_NEW_NAMES_LOCK])
        # Counted again holding the lock: another batch may have brought names meanwhile.
        new = _unrecorded(new)
        room = new_limit - AttributeName.objects.filter(origin=AttributeName.Origin.PAGE).count()
        brought = [name for name in new if len(name) <= AttributeName.MAX_LENGTH][: max(room, 0)]
        # In the names' order, as attribute_names_record inserts them: two batches inserting
        # the same new names in opposite orders each held the one the other waited for.
        AttributeName.objects.bulk_create(
            [AttributeName(name=name, origin=AttributeName.Origin.PAGE) for name in sorted(brought)],
            ignore_conflicts=True,
        )
        new = [name for name in new if name not in set(brought)]
    dropped = set(new)
    return Admitted(frozenset(name for name in names if name not in dropped), tuple(new))


def _unrecorded(names: list[str]) -> list[str]:
    """Those of ``names`` no row records, in order."""
    if not names:
        return []
    recorded = set(AttributeName.objects.filter(name__in=names).values_list("name", flat=True))
    return [name for name in names if name not in recorded]
