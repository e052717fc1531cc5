"""Erasing a person's data on request (privacy), in one transaction: the lead and
every row that goes with it, in this app and the others (enrollments,
deliveries, queue items, outcomes, notifications, routing's action runs…: all
that the database's relations cascade to), with the admin's log scrubbed of the
person. Whether the address is then still never to be mailed is kept on the
suppression list (see :mod:`scoring.suppression`), as a hash."""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import router, transaction
from django.db.models import Model, Q, QuerySet
from django.db.models.deletion import Collector
from django.utils import timezone, translation
from django.utils.translation import gettext

from scoring import setaside, suppression
from scoring.models import Interaction, Lead, SetAside, Visitor

logger = logging.getLogger(__name__)

# Kinds always in the report, removed or not (the API's answer has always had them).
CORE_KINDS = ("lead", "interactions", "score_entries", "visitors", "group_transitions")

SCRUBBED_MESSAGE = "Details removed when the lead was erased."

# What the API's answer means (its OpenAPI description).
ANSWER_HELP = (
    "Rows removed, by kind: lead, interactions, score_entries, visitors and group_transitions always; "
    "any other kind (enrollments, deliveries, queue_items, outcomes, notifications, action_runs, "
    "webhook_deliveries, webhook_attempts, set_aside_rows, interactions_waiting_to_be_scored…) only when "
    "rows of it were removed. "
    "admin_log_entries_scrubbed: entries of the admin's history that no longer name the person. "
    "suppressed: 1 when the address stays on the suppression list (as a hash) because the person had "
    "unsubscribed or the address bounced, so a lead created again with it is never mailed."
)

_LOG_ID_CHUNK = 500  # object ids per query: well under SQLite's variable limit


@dataclass(frozen=True)
class ErasureReport:
    """What erasing a lead removed, by kind (``removed``: rows deleted, in every app),
    how many admin log entries lost their mention of the person, and whether the
    address stays on the suppression list."""

    removed: Mapping[str, int] = field(default_factory=dict)
    admin_log_entries_scrubbed: int = 0
    suppressed: bool = False

    def as_dict(self) -> dict[str, int]:
        """The API's answer: the core kinds always, any other kind only when rows of it
        were removed (as Django's delete() reports), ``admin_log_entries_scrubbed``
        when any were, and ``suppressed: 1`` when the address's hash was kept."""
        answer = {kind: self.removed.get(kind, 0) for kind in CORE_KINDS}
        answer.update({kind: n for kind, n in sorted(self.removed.items()) if n and kind not in answer})
        if self.admin_log_entries_scrubbed:
            answer["admin_log_entries_scrubbed"] = self.admin_log_entries_scrubbed
        if self.suppressed:
            answer["suppressed"] = 1
        return answer


@transaction.atomic
def lead_erase(*, lead_id: int, at: datetime | None = None) -> ErasureReport:
    """Delete the lead and everything recorded about it; raise Lead.DoesNotExist if there is none.

    The person's address stays on the suppression list (hashed) when they had
    unsubscribed or it was listed already (a bounce, a complaint): otherwise a
    lead created again from a later event with the same address would be mailed.
    """
    at = at or timezone.now()
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    suppressed = suppression.address_erased(
        address=lead.email or "", unsubscribed=lead.unsubscribed_at is not None, at=at
    )
    # Another person's events may carry this person's visitor (a shared browser, sent by
    # the other's email): they are the other lead's, and stay, without the visitor.
    Interaction.objects.filter(visitor__in=Visitor.objects.filter(lead=lead), lead__isnull=False).exclude(
        lead=lead
    ).update(visitor=None)
    collector = Collector(using=router.db_for_write(Lead), origin=lead)
    collector.collect([lead])
    targets = _collected_ids(collector)  # read before the rows are gone
    _, deleted = collector.delete()
    scrubbed = _admin_log_scrub(targets=targets, email=lead.email or "", name=lead.name)
    removed: dict[str, int] = defaultdict(int)
    for label, count in deleted.items():
        removed[_kind(label)] += count
    # Rows a batch set aside name the lead by id only (their errors may quote its data).
    if set_aside := setaside.rows_erase(lead_ids=[lead_id]):
        removed[_kind(SetAside._meta.label)] += set_aside
    logger.info("erased lead %s on request", lead_id)  # no personal data in the log
    return ErasureReport(removed=dict(removed), admin_log_entries_scrubbed=scrubbed, suppressed=suppressed)


def _kind(label: str) -> str:
    """A report key for a model label: its English plural name in snake case
    ("scoring.ScoreEntry" -> "score_entries"), except the lead itself, which is one. English
    whatever the reader's language: the API answers with these keys."""
    model = apps.get_model(label)
    if model is Lead:
        return "lead"
    with translation.override(None):
        plural = str(model._meta.verbose_name_plural)
    return re.sub(r"[^a-z0-9]+", "_", plural.lower()).strip("_")


def kinds_named() -> dict[str, str]:
    """Each report key's rows as a person reads them, in the active language
    ("score_entries" -> "entradas del libro de puntos"), for a summary of an erasure."""
    named = {_kind(model._meta.label): str(model._meta.verbose_name_plural) for model in apps.get_models()}
    named["admin_log_entries_scrubbed"] = gettext("admin log entries scrubbed")
    return named


def _collected_ids(collector: Collector) -> dict[type[Model], Iterable[object]]:
    """The primary keys the collector will delete, by model; querysets it will delete
    without loading stay lazy (read only for models the admin log mentions)."""
    targets: dict[type[Model], list[object]] = defaultdict(list)
    for model, instances in collector.data.items():
        targets[model].extend(obj.pk for obj in instances)
    lazy: dict[type[Model], list[QuerySet[Model]]] = defaultdict(list)
    for queryset in collector.fast_deletes:
        lazy[queryset.model].append(queryset)
    logged = _models_with_log_entries({*targets, *lazy})
    ids: dict[type[Model], Iterable[object]] = {}
    for model in logged:
        pks = set(targets.get(model, ()))
        for queryset in lazy.get(model, ()):
            pks.update(queryset.values_list("pk", flat=True))
        ids[model] = pks
    return ids


def _models_with_log_entries(models: Iterable[type[Model]]) -> list[type[Model]]:
    by_type = ContentType.objects.get_for_models(*models, for_concrete_models=False)
    logged = set(
        LogEntry.objects.filter(content_type_id__in=[ct.pk for ct in by_type.values()])
        .values_list("content_type_id", flat=True)
        .distinct()
    )
    return [model for model, ct in by_type.items() if ct.pk in logged]


def _admin_log_scrub(*, targets: Mapping[type[Model], Iterable[object]], email: str, name: str) -> int:
    """Remove the person from the admin's history: entries about a row that was erased
    keep who did what and when, but no longer say what the row was; any other entry
    naming the person's address loses the address (and the name next to it). Returns
    how many entries changed."""
    if not targets and not email:
        return 0
    types = ContentType.objects.get_for_models(*targets, for_concrete_models=False)
    names = {types[model].pk: str(model._meta.verbose_name) for model in targets}
    about = Q(pk__in=[])
    for model, pks in targets.items():
        object_ids = sorted(str(pk) for pk in pks)
        for start in range(0, len(object_ids), _LOG_ID_CHUNK):
            about |= Q(content_type=types[model], object_id__in=object_ids[start : start + _LOG_ID_CHUNK])
    entries: dict[int, LogEntry] = {}
    for entry in LogEntry.objects.filter(about):
        entry.object_repr = f"{names.get(entry.content_type_id or 0, 'object')} {entry.object_id} (erased)"[:200]
        entry.change_message = SCRUBBED_MESSAGE
        entries[entry.pk] = entry
    if email:
        # The address as typed in a message, and as JSON escapes it in the structured ones.
        forms = {email, json.dumps(email)[1:-1]}
        named = Q()
        for form in forms:
            named |= Q(object_repr__icontains=form) | Q(change_message__icontains=form)
        words = [re.escape(f) for f in sorted(forms, key=len, reverse=True)]
        if name:
            words.append(rf"\b{re.escape(name)}\b")
        pattern = re.compile("|".join(words), re.IGNORECASE)
        for entry in LogEntry.objects.filter(named).exclude(pk__in=list(entries)):
            entry.object_repr = pattern.sub("[erased]", entry.object_repr)[:200]
            entry.change_message = pattern.sub("[erased]", entry.change_message)
            entries[entry.pk] = entry
    if entries:
        LogEntry.objects.bulk_update(list(entries.values()), ["object_repr", "change_message"])
    return len(entries)
