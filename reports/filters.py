"""The filters of the reports, read from GET parameters and checked: a bad value is
an error naming the field, shown on the page (the CSV answers 400 with it)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext, gettext_noop, ngettext

from nurture.models import Sequence
from routing.models import Team
from scoring.models import Scorecard, ScoreGroup
from scoring.models.design import DEFAULT_SCORECARD_KEY

NO_GROUP = "none"  # the group filter's value for leads below the lowest group
SOURCE_MAX_LENGTH = 100
ALL_FILTERS = ("start", "end", "source", "team", "sequence", "scorecard", "group", "attribution")
# Which of a lead's campaign touches gets its MQL, SQL, win and revenue.
ATTRIBUTIONS = {"first": gettext_noop("first touch"), "last": gettext_noop("last touch")}


@dataclass(frozen=True)
class Choices:
    """What the team, sequence, scorecard and score group filters may be: (id, key, name)
    each, by name (scorecards by key), and the default scorecard's score groups from the
    lowest up, those of the other scorecards by scorecard id."""

    teams: list[tuple[int, str, str]]
    sequences: list[tuple[int, str, str]]
    groups: list[ScoreGroup]
    scorecards: list[tuple[int, str, str]] = field(default_factory=list)
    scorecard_groups: dict[int, list[ScoreGroup]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Choices:
        scorecards = cls.scorecards_load()
        return cls(
            teams=list(Team.objects.order_by("name").values_list("pk", "key", "name")),
            sequences=list(Sequence.objects.order_by("name").values_list("pk", "key", "name")),
            groups=scorecards.groups,
            scorecards=scorecards.scorecards,
            scorecard_groups=scorecards.scorecard_groups,
        )

    @classmethod
    def scorecards_load(cls) -> Choices:
        """The scorecards and every live group, no teams or sequences (two queries): what a
        page choosing only a scorecard needs."""
        groups: list[ScoreGroup] = []
        scorecard_groups: dict[int, list[ScoreGroup]] = {}
        for group in ScoreGroup.every_scorecard.order_by("min_score"):
            if group.scorecard_id is None:
                groups.append(group)
            else:
                scorecard_groups.setdefault(group.scorecard_id, []).append(group)
        return cls(
            teams=[],
            sequences=[],
            groups=groups,
            scorecards=list(Scorecard.objects.order_by("key").values_list("pk", "key", "name")),
            scorecard_groups=scorecard_groups,
        )


@dataclass(frozen=True)
class Filters:
    """Checked filters; empty means "all". ``end`` is included."""

    start: date | None = None
    end: date | None = None
    source: str = ""
    team_id: int | None = None
    sequence_id: int | None = None
    scorecard_id: int | None = None  # None: the default scorecard (the lead's own score)
    group: str = ""  # a score group's key, NO_GROUP, or "" (all)
    groups: list[ScoreGroup] = field(default_factory=list)  # every group of the scorecard, lowest first
    attribution: str = "first"  # a key of ATTRIBUTIONS

    def since(self) -> datetime | None:
        """The first moment of ``start``, in the site's time zone."""
        return _midnight(self.start) if self.start else None

    def before(self) -> datetime | None:
        """The first moment after ``end``."""
        return _midnight(self.end + timedelta(days=1)) if self.end else None


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# The days a report's period may name: the day after the last one must be a date too, and
# each day's midnight a time in every time zone.
DAYS = (date(1900, 1, 1), date(2999, 12, 31))


def _date(value: str, name: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors[name] = gettext("'{value}' is not a date: write it as YYYY-MM-DD, e.g. 2026-11-30.").format(
            value=value[:40]
        )
        return None
    if not DAYS[0] <= day <= DAYS[1]:
        errors[name] = gettext("{value} is out of range: give a day from {first} to {last}.").format(
            value=value[:40], first=DAYS[0].isoformat(), last=DAYS[1].isoformat()
        )
        return None
    return day


def filters_parse(
    params: Mapping[str, str], *, applies: Collection[str], choices: Choices
) -> tuple[Filters, dict[str, str]]:
    """The filters of ``params`` that apply to a report, and the errors by field.

    Parameters that do not apply are ignored; a field with an error is left empty."""
    errors: dict[str, str] = {}

    def given(name: str) -> str:
        return params.get(name, "").strip() if name in applies else ""

    start = _date(given("start"), "start", errors)
    end = _date(given("end"), "end", errors)
    if start and end and end < start:
        errors["end"] = gettext("The end ({end}) is before the start ({start}).").format(end=end, start=start)
        end = None
    source = given("source")
    if len(source) > SOURCE_MAX_LENGTH:
        errors["source"] = ngettext(
            "At most {limit} characters (this has {count}).",
            "At most {limit} characters (this has {count}).",
            len(source),
        ).format(limit=SOURCE_MAX_LENGTH, count=len(source))
        source = ""
    team_id = None
    if team := given("team"):
        teams = {key: pk for pk, key, _ in choices.teams}
        team_id = teams.get(team)
        if team_id is None:
            errors["team"] = gettext("No team '{key}' (known: {known}).").format(
                key=team[:60], known=", ".join(teams) or gettext("none")
            )
    sequence_id = None
    if sequence := given("sequence"):
        sequences = {key: pk for pk, key, _ in choices.sequences}
        sequence_id = sequences.get(sequence)
        if sequence_id is None:
            errors["sequence"] = gettext("No sequence '{key}' (known: {known}).").format(
                key=sequence[:60], known=", ".join(sorted(sequences)) or gettext("none")
            )
    scorecard_id = None
    groups = choices.groups
    if (scorecard := given("scorecard")) and scorecard != DEFAULT_SCORECARD_KEY:
        scorecards = {key: pk for pk, key, _ in choices.scorecards}
        scorecard_id = scorecards.get(scorecard)
        if scorecard_id is None:
            errors["scorecard"] = gettext("No scorecard '{key}' (known: {known}).").format(
                key=scorecard[:60], known=", ".join([DEFAULT_SCORECARD_KEY, *sorted(scorecards)])
            )
        else:
            groups = choices.scorecard_groups.get(scorecard_id, [])
    group = given("group")
    known_groups = [g.key for g in groups]
    if group and group != NO_GROUP and group not in known_groups and "scorecard" not in errors:
        if scorecard_id is None:
            errors["group"] = gettext("No score group '{key}' (known: {known}).").format(
                key=group[:60], known=", ".join([*known_groups, NO_GROUP])
            )
        else:
            errors["group"] = gettext("No score group '{key}' on scorecard '{scorecard}' (known: {known}).").format(
                key=group[:60], scorecard=scorecard, known=", ".join([*known_groups, NO_GROUP])
            )
        group = ""
    attribution = given("attribution") or "first"
    if attribution not in ATTRIBUTIONS:
        errors["attribution"] = gettext("'{value}' is not one of {known}.").format(
            value=attribution[:40], known=", ".join(ATTRIBUTIONS)
        )
        attribution = "first"
    filters = Filters(
        attribution=attribution,
        start=start,
        end=end,
        source=source,
        team_id=team_id,
        sequence_id=sequence_id,
        scorecard_id=scorecard_id,
        group=group,
        groups=groups,
    )
    return filters, errors
