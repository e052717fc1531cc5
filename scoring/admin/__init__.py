"""Scoring in the admin, by topic: the model (:mod:`~scoring.admin.rules`), campaigns, the event types
(:mod:`~scoring.admin.event_types`), leads and
their history (:mod:`~scoring.admin.leads`), groups over time, decay and rescoring
(:mod:`~scoring.admin.history`), model versions and replays of a version (:mod:`~scoring.admin.replay`),
predictive versions and settings, set-aside rows and the suppression list, accounts and
the free-mail domains (:mod:`~scoring.admin.accounts`), the custom attributes' names
(:mod:`~scoring.admin.attribute_names`). Importing the
package registers every page."""

from scoring.admin import (
    accounts,
    attribute_names,
    campaigns,
    event_types,
    history,
    leads,
    predictive,
    replay,
    rules,
    scorecards,
    set_aside,
    suppression,
    versions,
)

__all__ = [
    "accounts",
    "attribute_names",
    "campaigns",
    "event_types",
    "history",
    "leads",
    "predictive",
    "replay",
    "rules",
    "scorecards",
    "set_aside",
    "suppression",
    "versions",
]
