"""Finding leads by part of their email, first or last name, company or city, or by their
whole external id: the ``lead_search`` lookup on a lead's id (``id__lead_search`` on the
lead list, ``lead__id__lead_search`` on the lists of a lead's rows), which the admin's
``search_fields`` name like any other.

On PostgreSQL it reads a table of its own, ``scoring_leadsearch`` (scoring's migration
0047): one row per lead with those five fields in capitals, one after the other and
apart (chr(1), see there), under a trigram index, and the external id under a b-tree.
Triggers on the lead table write it when a lead is created, when one of those fields
changes, and when leads are deleted. Score changes, which rewrite a lead's row many times
a day, leave it alone: its index was on the lead table until then, and every score change
wrote some fifty trigrams into it (half the time of each score update). The table is not
in the models' state, as the index was not: SQLite has no trigram index, and rebuilding a
table there would drop the triggers. There the lookup compares the lead's own columns,
as Django's ``icontains`` does.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Lookup
from django.db.models.sql.compiler import SQLCompiler
from django.utils.text import smart_split, unescape_string_literal

SEARCHED = ("email", "first_name", "last_name", "company", "city")
TABLE = "scoring_leadsearch"


def terms(search_term: str) -> list[str]:
    """The words of what a person typed in a search box, as Django's admin reads them
    (a quoted phrase is one word)."""
    words = []
    for word in smart_split(search_term):
        if word.startswith(('"', "'")) and word[0] == word[-1]:
            word = unescape_string_literal(word)
        words.append(word)
    return words


class LeadSearch(Lookup[Any]):
    """``<lead id>__lead_search=term``: the lead has ``term`` in one of :data:`SEARCHED`
    (any case), or has ``term`` as its whole external id. Given a list of terms, the lead
    must match every one, in one read of the search's table (a common word beside a rare
    one is then found through the rare one's trigrams, not as a list of every lead)."""

    lookup_name = "lead_search"
    prepare_rhs = False  # search terms, not an id

    def _where(self, connection: BaseDatabaseWrapper, one: str, columns: int) -> tuple[str, list[Any]]:
        """Every term's condition (``one``, with ``columns`` patterns and then the whole term), ANDed."""
        words = [self.rhs] if isinstance(self.rhs, str) else list(self.rhs)
        params: list[Any] = []
        for word in words:
            params += [*[f"%{connection.ops.prep_for_like_query(word)}%"] * columns, str(word)]
        return " AND ".join([f"({one})"] * len(words)) or "FALSE", params

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        likes = " OR ".join(f"{name} LIKE %s ESCAPE '\\'" for name in SEARCHED)
        where, params = self._where(connection, f"{likes} OR external_id = %s", len(SEARCHED))
        # Only known names are formatted in (the column of the lookup's left side, the searched fields).
        return f"{lhs} IN (SELECT id FROM scoring_lead WHERE {where})", [*lhs_params, *params]  # noqa: S608

    def as_postgresql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        where, params = self._where(connection, "document LIKE UPPER(%s) OR external_id = %s", 1)
        return f"{lhs} IN (SELECT lead_id FROM {TABLE} WHERE {where})", [*lhs_params, *params]  # noqa: S608


# A search that matches at most this many leads is answered from their ids (the search
# table's trigrams find them, then they are sorted); one that matches more is read in
# the list's order, each lead checked, as those are found early on.
FEW = 10_000


def lead_ids(words: list[str]) -> list[int] | None:
    """The ids of the leads that match every word, if there are at most :data:`FEW` of
    them; else None. (The planner's guess at how many leads several words match is
    often far out, and a wrong guess read a million leads in the list's order.)"""
    from scoring.models import Lead

    found = list(Lead.objects.filter(id__lead_search=words).values_list("pk", flat=True)[: FEW + 1])
    return found if len(found) <= FEW else None


def register() -> None:
    from scoring.models import Lead

    Lead._meta.get_field("id").register_lookup(LeadSearch)
