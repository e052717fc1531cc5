"""A long admin list's rows written without the per-row work Django's admin repeats.

A filtered or searched list links each row to its change page carrying the list's
filters, so the change page can lead back to the same list. Django works out that query
string for each row anew, resolving the row's address against every admin URL (a
hundred resolutions per page; most of a filtered page's time at a million leads). Every
row links to the same view, so the query string is worked out once, by Django's own
code, for the first row, and added to the others as it is. The action checkbox of each
row is likewise written directly rather than through a form widget's template: the same
markup. So is the mark of an empty cell: translated once per language, not once per cell.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.views.main import ChangeList
from django.db.models import Model
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language, gettext


class QuickRowsChangeList(ChangeList):
    """A change list whose rows carry the list's filters worked out once per page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The rows' links get the filters here; Django's row writer, finding none left,
        # adds nothing and resolves nothing.
        self.row_filters, self.preserved_filters = self.preserved_filters, ""
        self._row_query: str | None = None

    def url_for_result(self, result: Model) -> str:
        url = str(super().url_for_result(result))
        if not self.row_filters:
            return url
        if self._row_query is None:
            self._row_query = urlsplit(
                add_preserved_filters({"preserved_filters": self.row_filters, "opts": self.opts}, url)
            ).query
        parts = urlsplit(url)
        return urlunsplit(parts._replace(query=self._row_query))


def action_checkbox(obj: Model) -> SafeString:
    """The row's checkbox for the list's actions, as Django's CheckboxInput writes it."""
    return format_html(
        '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
        helpers.ACTION_CHECKBOX_NAME,
        str(obj.pk),
        format_html(gettext("Select this object for an action - {}"), str(obj)),
    )


_empty: dict[tuple[str | None, int], SafeString] = {}


def empty_value_display(text: Any) -> SafeString:
    """The mark of an empty cell (``text``, a lazy translation), translated once per language."""
    key = (get_language(), id(text))
    if key not in _empty:
        _empty[key] = SafeString(str(text))
    return _empty[key]
