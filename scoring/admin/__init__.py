"""Scoring in the admin, by topic: the model (:mod:`~scoring.admin.rules`), leads and
their history (:mod:`~scoring.admin.leads`), groups over time, decay and rescoring
(:mod:`~scoring.admin.history`), set-aside rows and the suppression list. Importing
the package registers every page."""

from scoring.admin import history, leads, rules, set_aside, suppression

__all__ = ["history", "leads", "rules", "set_aside", "suppression"]
