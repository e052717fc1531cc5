"""Nurture in the admin: sequences with their steps, previews and figures
(:mod:`~nurture.admin.sequences`), enrollments and deliveries, and two actions on
scoring's Lead changelist (:mod:`~nurture.admin.leads`). Importing the package
registers every page."""

from nurture.admin import enrollments, leads, sequences

__all__ = ["enrollments", "leads", "sequences"]
