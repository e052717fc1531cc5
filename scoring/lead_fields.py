"""The lead's fields, in one list: which a rule may test, which other systems may write,
which an anonymous form may write, which a nurture template may show, and what
Segment's identify traits call them. Every door, the rules and the templates derive
their own lists from this one. Pure: no database here (the columns are
:class:`scoring.models.Lead`'s).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LeadField:
    name: str  # the Lead column
    label: str  # in rule sentences: "+5 when company size is at least 50"
    fit: bool = True  # fit rules (and routing's conditions and territories) may test it
    writable: bool = True  # other systems may set it: the API, Segment, forms, imports
    anonymous: bool = True  # an anonymous form may set it (never stage, owner, scores or ids)
    template: bool = True  # nurture email templates may show it
    traits: tuple[str, ...] = ()  # Segment identify traits that set it


FIELDS: tuple[LeadField, ...] = (
    LeadField("external_id", "external id", fit=False, anonymous=False, template=False),
    LeadField("first_name", "first name", traits=("firstName", "first_name")),
    LeadField("last_name", "last name", traits=("lastName", "last_name")),
    LeadField("title", "title", traits=("title",)),
    LeadField("department", "department", traits=("department",)),
    # Segment's "company" trait is a name or {"name": …}: read apart (intake.segment).
    LeadField("company", "company"),
    LeadField("industry", "industry", traits=("industry",)),
    LeadField("company_size", "company size", template=False, traits=("employees",)),
    LeadField("annual_revenue", "annual revenue", template=False),
    LeadField("country", "country", traits=("country",)),
    LeadField("city", "city", traits=("city",)),
    LeadField("time_zone", "time zone", fit=False, template=False),
    LeadField("lifecycle_stage", "lifecycle stage", anonymous=False),
    LeadField("attributes", "custom attributes", fit=False, anonymous=False, template=False),
)

# What a fit rule may test, with its words: the email's domain (from the email) and the
# fit fields. Custom attributes are tested as "attributes.<name>".
FIT_LABELS: dict[str, str] = {"email_domain": "email domain", **{f.name: f.label for f in FIELDS if f.fit}}
# The columns fit is computed from (the email gives email_domain).
FIT_COLUMNS: tuple[str, ...] = ("email", *(f.name for f in FIELDS if f.fit))
WRITABLE: frozenset[str] = frozenset(f.name for f in FIELDS if f.writable)
ANONYMOUS: frozenset[str] = frozenset(f.name for f in FIELDS if f.anonymous)
TEMPLATE: tuple[str, ...] = ("email", *(f.name for f in FIELDS if f.template))
TRAITS: dict[str, str] = {trait: f.name for f in FIELDS for trait in f.traits}
# Names no custom attribute takes, whichever door sends it: the lead's own fields that only
# the company or Leadflow sets (its email, ids, stage, owner, scores, group and account).
# An attribute of such a name would stand beside the field in the leads' export and in
# rules, saying something else.
RESERVED_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "email",
        *(f.name for f in FIELDS if not f.anonymous),
        "owner",
        "fit_score",
        "engagement_score",
        "total_score",
        "score_group",
        "account",
    }
)

# Where an identify's trait its field cannot hold (employees as "51-200", a title that is
# a list) is kept among the lead's custom attributes, by field: under the trait's name, or
# for a part of the address ("address.city") in the "address" object. A later value of
# the field drops it (:func:`attributes_superseded`), so rules never read both.
KEPT_AS: dict[str, tuple[str, ...]] = {
    **{f.name: f.traits for f in FIELDS if f.traits},
    "company": ("company",),
    "city": ("city", "address.city"),
    "country": ("country", "address.country"),
}


def attributes_superseded(
    attributes: Mapping[str, Any] | None, filled: Iterable[str], *, kept_as: Mapping[str, tuple[str, ...]]
) -> dict[str, Any]:
    """``attributes`` without what held an earlier value of the fields ``filled`` (each
    field's names in ``kept_as``: "name", or "address.city" for a part of the "address"
    object, which goes when nothing is left in it): once the field has a value, the one
    its field could not hold is no longer the company's or the lead's."""
    kept = dict(attributes or {})
    for name in filled:
        for place in kept_as.get(name, ()):
            top, _, part = place.partition(".")
            if not part:
                kept.pop(top, None)
            elif isinstance(inside := kept.get(top), Mapping) and part in inside:
                rest = {key: value for key, value in inside.items() if key != part}
                if rest:
                    kept[top] = rest
                else:
                    del kept[top]
    return kept


def attributes_merged(
    attributes: Mapping[str, Any] | None,
    filled: Iterable[str],
    given: Mapping[str, Any] | None,
    *,
    kept_as: Mapping[str, tuple[str, ...]],
    fill_only: bool = False,
    at_most: int | None = None,
) -> dict[str, Any]:
    """The custom attributes ``attributes`` once a write gave the fields ``filled`` a value
    and said the attributes ``given``: first what held an earlier value of those fields
    goes (:func:`attributes_superseded`), then ``given`` merge in, in their order, a value
    given replacing the one known (only one the attributes lack with ``fill_only``). A name
    not held yet is added only while fewer than ``at_most`` are (None: no limit); those
    known keep their place."""
    merged = attributes_superseded(attributes, filled, kept_as=kept_as)
    for name, value in (given or {}).items():
        if name in merged:
            if not fill_only:
                merged[name] = value
        elif at_most is None or len(merged) < at_most:
            merged[name] = value
    return merged
