"""Counting a long admin list without reading the whole table.

The admin counts its list to show "N leads" and to number its pages. On PostgreSQL a
COUNT(*) of a table of a million rows reads all of them (half a second, on every page).
Unfiltered, a large table's count is taken from the planner's statistics
(``pg_class.reltuples``, kept by autovacuum's ANALYZE): off by a little, at no cost. A
filtered or searched list is counted exactly, through the indexes its filter reads;
so is a small table, and every table elsewhere than on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

# Below this many rows an exact count is cheap and an estimate would show (a little) wrong.
ESTIMATE_FROM = 100_000


def table_row_estimate(*, using: str, table: str) -> int | None:
    """The planner's estimate of a table's rows, or None where there is none (never
    analysed, or not PostgreSQL)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [connection.ops.quote_name(table)])
        row = cursor.fetchone()
    # -1 until the table is first analysed (PostgreSQL 14 and later; 0 before).
    return int(row[0]) if row is not None and row[0] > 0 else None


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator whose count of a large, unfiltered table is PostgreSQL's estimate."""

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        query = getattr(queryset, "query", None)
        if query is not None and not query.where and not query.distinct:
            estimate = table_row_estimate(using=queryset.db, table=queryset.model._meta.db_table)
            if estimate is not None and estimate >= ESTIMATE_FROM:
                return estimate
        return int(super().count)
