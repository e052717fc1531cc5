"""The scoring model as a file: parse and check it, or write it out. No ORM here.

A model file is YAML (JSON is valid YAML too)::

    leadflow_model: 1
    name: Toy store
    score_groups:
      - {key: nurture, name: Nurture, min_score: 40}
    rules:
      - key: lives-in-san-jose
        name: Lives or works in San José
        dimension: fit
        points: 8
        match: any
        conditions:
          - {field: city, operator: equals, value: San José}
      - key: email-engagement
        name: Email opens and clicks
        dimension: engagement
        points: 2
        interaction_types: [email_open, email_click]
        cap: {count: 5, window_days: 30}
    event_types:
      - {key: trial_started, label: Trial started, segment_events: [Trial Started]}
    scorecards:
      - key: books
        name: Books
        score_groups:
          - {key: books-hot, name: Hot for books, min_score: 30}
        rules:
          - {key: book-pages, name: Reads book pages, dimension: engagement, points: 3,
             interaction_types: [page_view], conditions: [{field: url, operator: contains, value: /books}]}
        decay: {policy: linear, points_per_day: 1, after_days: 14}

The top-level ``score_groups``, ``rules`` and ``decay`` are the default scorecard (the
lead's own score); each of ``scorecards`` is another score with its own, named by
``key``. Rule keys and group keys are unique across the whole file (routing and the
ledger name them alone); a group's ``min_score`` is unique within its scorecard.

Every problem is reported with its place ("rules[2].conditions[0].value: …"),
all at once, so one import attempt shows everything to fix.

Other apps add top-level keys of their own (nurture: ``sequences``; routing:
``teams`` and ``routing``) with :func:`register_section`, so scoring imports
none of them. A file holds the scoring part when it has ``score_groups``,
``rules`` or ``decay``; a file with only other apps' keys leaves the scoring
model alone. The order of the keys in the file never matters: the scoring
part is imported first, then each section after the ones it refers to.
``event_types`` (the company's own types with their labels, and the Segment
event names mapped to each) and ``account_groups`` (bands of an account's total,
written as ``score_groups`` are) are imported whenever present, with or without
the scoring part; a file without them leaves them as they are. So is ``accounts``, how
accounts are scored: the roll-up of their leads' scores and the account fit rules::

    accounts:
      rollup: top_average          # sum (the default) | max | top_average
      top_n: 3                     # top_average only
      rules:
        - key: big-toy-makers
          name: Toy makers of 200 people or more
          points: 15
          conditions:
            - {field: industry, operator: equals, value: Toys}
            - {field: company_size, operator: gte, value: 200}
"""

from __future__ import annotations

import functools
import graphlib
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import MAXYEAR, UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

import yaml

from scoring import accounts as account_math
from scoring import decay as decay_math
from scoring import event_types as types
from scoring import file_checks as checks
from scoring import rules as pure
from scoring.event_types import gettext_noop
from scoring.file_checks import LATER, Problem, at

FORMAT_VERSION = 1
NAME_MAX_LENGTH = 200  # the model's name column
GROUP_KEY_MAX_LENGTH = 60  # a score group's and an account group's key column
GROUP_NAME_MAX_LENGTH = 100  # a score group's and an account group's name column
RULE_KEY_MAX_LENGTH = 80  # a rule's key column
RULE_NAME_MAX_LENGTH = 200  # a rule's and an account rule's name column

_TOP_KEYS = {
    "leadflow_model",
    "name",
    "description",
    "score_groups",
    "rules",
    "decay",
    "event_types",
    "account_groups",
    "accounts",
    "scorecards",
}
_SCORING_KEYS = ("score_groups", "rules", "decay", "scorecards")
_SCORECARD_KEYS = {"key", "name", "description", "score_groups", "rules", "decay"}
SCORECARD_KEY_MAX_LENGTH = 60  # the scorecard's key column
SCORECARD_NAME_MAX_LENGTH = 100  # the scorecard's name column
# The default scorecard's key, taken by no scorecard of the file.
DEFAULT_SCORECARD = "default"
_GROUP_KEYS = {"key", "name", "min_score", "leave_below", "description"}
_DECAY_KEYS = {"policy", "points_per_day", "after_days", "half_life_days", "window_days", "floor"}
# The settings each policy reads (and the export writes): another is refused, not ignored.
_DECAY_SETTINGS = {
    decay_math.Kind.NONE: set(),
    decay_math.Kind.LINEAR: {"points_per_day", "after_days", "floor"},
    decay_math.Kind.HALF_LIFE: {"half_life_days", "after_days", "floor"},
    decay_math.Kind.WINDOW: {"window_days", "floor"},
}
_RULE_KEYS = {
    "key",
    "name",
    "description",
    "dimension",
    "points",
    "match",
    "conditions",
    "interaction_types",
    "cap",
    "active",
    "valid_from",
    "valid_until",
}
_CONDITION_KEYS = {"field", "operator", "value"}
_ACCOUNTS_KEYS = {"rollup", "top_n", "rules"}
_ACCOUNT_RULE_KEYS = {"key", "name", "points", "match", "conditions", "active"}
ACCOUNT_RULE_KEY_MAX_LENGTH = 80  # an account rule's key column
TOP_N_MAX = 1000  # what the account settings' N accepts
TOP_N_DEFAULT = 3
_EVENT_TYPE_KEYS = {"key", "label", "segment_events"}
_CAP_KEYS = {"count", "points", "window_days"}


AT_MOST_CHARACTERS = gettext_noop("{place}: at most {limit} characters")


class ModelFileError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class GroupSpec:
    key: str
    name: str
    min_score: int
    description: str = ""
    leave_below: int | None = None


@dataclass(frozen=True)
class ConditionSpec:
    field: str
    operator: str
    value: pure.Value = None


@dataclass(frozen=True)
class RuleSpec:
    key: str
    name: str
    dimension: str
    points: int
    description: str = ""
    match: str = pure.Match.ALL.value
    conditions: tuple[ConditionSpec, ...] = ()
    interaction_types: tuple[str, ...] = ()
    cap_count: int | None = None
    cap_points: int | None = None
    cap_window_days: int | None = None
    active: bool = True
    valid_from: datetime | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class AccountRuleSpec:
    """An account fit rule: points for the accounts whose fields meet its conditions."""

    key: str
    name: str
    points: int
    match: str = pure.Match.ALL.value
    conditions: tuple[ConditionSpec, ...] = ()
    active: bool = True


@dataclass(frozen=True)
class AccountsSpec:
    """How accounts are scored: their leads' scores rolled up, and their fit rules."""

    rollup: str = account_math.Rollup.SUM.value
    # How many best leads top_average reads; None (any other roll-up): the stored N is kept.
    top_n: int | None = None
    rules: tuple[AccountRuleSpec, ...] = ()


@dataclass(frozen=True)
class EventTypeSpec:
    """A type the company declares: its label (none for a built-in type, which has its
    own) and the Segment ``track`` event names that record it."""

    key: str
    label: str = ""
    segment_events: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScorecardSpec:
    """A scorecard beside the default one: its own groups, rules and decay."""

    key: str
    name: str
    description: str = ""
    groups: tuple[GroupSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    decay: decay_math.Policy = field(default_factory=decay_math.Policy)


@dataclass(frozen=True)
class ModelSpec:
    # None: not in the file (then kept by a file without the scoring part, emptied by one with it).
    name: str | None = None
    description: str | None = None
    groups: tuple[GroupSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = field(default_factory=tuple)
    decay: decay_math.Policy = field(default_factory=decay_math.Policy)
    # False for a file holding only other apps' sections: the scoring model is left as it is.
    scoring: bool = True
    # Registered sections present in the file: section name -> what its parse returned.
    sections: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # None: the file has no event_types (the declared types stay as they are).
    event_types: tuple[EventTypeSpec, ...] | None = None
    # None: the file has no account_groups (the account groups stay as they are).
    account_groups: tuple[GroupSpec, ...] | None = None
    # None: the file has no accounts (the roll-up and the account fit rules stay as they are).
    accounts: AccountsSpec | None = None
    # The scorecards beside the default one (whose groups, rules and decay are the fields above).
    scorecards: tuple[ScorecardSpec, ...] = ()


# --- other apps' sections -------------------------------------------------------------


GroupKind = Literal["score", "account"]


@dataclass(frozen=True)
class GroupUse:
    """A row of another app that uses a group the file leaves out, for the refusal."""

    group_id: int
    kind: str  # what the row is, in English marked for the catalogue: "sequence", "routing rule"
    name: str
    field: str  # where the file would name the group: "exit.reaches_group", "group"


@dataclass(frozen=True)
class Section:
    """Top-level keys of the model file that another app owns.

    ``parse(values, errors)`` gets the file's values for ``keys`` (only those
    present) and returns the section's spec, appending every problem to
    ``errors`` with its place; it must not touch the database. ``dump(spec)``
    gives the keys' data back for the file. ``import_(spec)`` writes the spec
    inside the model import's transaction, after the scoring part (so it sees
    the file's score groups) and after the sections named in ``after`` (so
    it sees what they name, e.g. routing the file's nurture sequences), and
    returns lines for the summary; it raises :class:`ModelFileError` listing
    every problem, which undoes the whole import. The groups the file leaves
    out are still in the database then (they are deleted last): its lookups of
    the groups the file names must leave out :func:`groups_left_out`, so a row
    naming one is refused by its field, as it will be once they are gone. ``export()`` reads the
    section's spec from the database. ``loaded()`` says whether the database
    already holds this part (for a first-run import that leaves a loaded
    model alone).

    ``groups_leaving(kind, ids)`` is asked, once the whole file is written and
    whether or not the file holds the section's keys (but not when the section's
    own part failed: its rows are not the file's), about the groups the file
    leaves out (score or account groups, by id) before they are deleted: it
    returns every use of them the app's rows still make (each refuses the file,
    as deleting the group would silently drop or block it) and lets go of the
    uses that need not keep a group (an inactive routing rule's).
    """

    name: str
    title: str  # what the section holds, in English marked for the catalogue: "nurture sequences"
    keys: tuple[str, ...]
    parse: Callable[[Mapping[str, Any], list[str]], Any]
    dump: Callable[[Any], dict[str, Any]]
    import_: Callable[[Any], list[str]]
    export: Callable[[], Any]
    loaded: Callable[[], bool]
    # Sections whose rows this one refers to: they are imported first, whatever the file's order.
    after: tuple[str, ...] = ()
    groups_leaving: Callable[[GroupKind, Collection[int]], list[GroupUse]] | None = None


_SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> None:
    """Add a section to the model file (from an AppConfig.ready())."""
    clash = set(section.keys) & (_TOP_KEYS | {k for s in _SECTIONS.values() if s.name != section.name for k in s.keys})
    if clash:
        raise ValueError(f"model file section {section.name!r}: keys already taken: {', '.join(sorted(clash))}")
    candidate = {**_SECTIONS, section.name: section}
    try:
        _in_order(candidate)
    except graphlib.CycleError as exc:
        raise ValueError(f"model file section {section.name!r}: its 'after' makes a cycle: {exc.args[1]}") from None
    _SECTIONS[section.name] = section


def sections() -> tuple[Section, ...]:
    """The registered sections in the order they import: each after the ones it names in
    ``after`` (a name not registered is ignored: that app is not installed), otherwise in
    registration order."""
    return _in_order(_SECTIONS)


_LEFT_OUT: ContextVar[Mapping[GroupKind, frozenset[int]]] = ContextVar("model_file_left_out")


@contextmanager
def groups_leaving(left_out: Mapping[GroupKind, Collection[int]]) -> Iterator[None]:
    """While the sections of a file are imported: the ids of the groups it leaves out,
    which stay in the database until the whole file is written, for :func:`groups_left_out`."""
    token = _LEFT_OUT.set({kind: frozenset(ids) for kind, ids in left_out.items()})
    try:
        yield
    finally:
        _LEFT_OUT.reset(token)


_FAILED: ContextVar[Mapping[str, Any]] = ContextVar("model_file_failed")


@contextmanager
def sections_failing(failed: Mapping[str, Any]) -> Iterator[None]:
    """While a section of a file is imported: the sections imported before it that failed
    (their rows are not written), by name, with their specs, for :func:`sections_failed`."""
    token = _FAILED.set(dict(failed))
    try:
        yield
    finally:
        _FAILED.reset(token)


def sections_failed() -> Mapping[str, Any]:
    """The sections of the file being imported that failed before this one, by name, with
    their specs (none outside an import): a row naming one of the keys such a spec holds
    finds it missing because that section's own problems kept it out, which are reported
    already; a key no spec holds is a problem of its own."""
    return _FAILED.get({})


def groups_left_out(kind: GroupKind) -> frozenset[int]:
    """The ids of the groups of ``kind`` the model file being imported leaves out (none
    outside an import): a section looking up the groups the file names must not find them."""
    return _LEFT_OUT.get({}).get(kind, frozenset())


def _in_order(registered: Mapping[str, Section]) -> tuple[Section, ...]:
    position = {name: index for index, name in enumerate(registered)}
    graph = graphlib.TopologicalSorter({s.name: [n for n in s.after if n in registered] for s in registered.values()})
    graph.prepare()  # raises CycleError
    ordered: list[Section] = []
    while graph.is_active():
        ready = sorted(graph.get_ready(), key=position.__getitem__)
        ordered.extend(registered[name] for name in ready)
        graph.done(*ready)
    return tuple(ordered)


# --- reading ---------------------------------------------------------------------


def load_text(text: str) -> ModelSpec:
    """Parse and check a model file's text; raise ModelFileError listing every problem."""
    try:
        data = checks.yaml_load(text)
    except ValueError as exc:
        raise ModelFileError([exc.args[0]]) from None
    return load_data(data)


def load_data(data: object) -> ModelSpec:
    errors: list[str] = []
    if not isinstance(data, dict):
        raise ModelFileError([Problem(gettext_noop("the file must be a mapping with score_groups and rules"))])
    checks.unknown_keys(data, _TOP_KEYS | {k for s in _SECTIONS.values() for k in s.keys}, "", errors)
    version = data.get("leadflow_model")
    if version != FORMAT_VERSION:
        errors.append(
            Problem(
                gettext_noop("{place}: must be {version} (the format version), not {value!r}"),
                place="leadflow_model",
                version=FORMAT_VERSION,
                value=version,
            )
        )
    name = checks.text(data, "name", "", errors, max_length=NAME_MAX_LENGTH) if "name" in data else None
    description = checks.text(data, "description", "", errors) if "description" in data else None
    group_keys: dict[str, str] = {}
    rule_keys: dict[str, str] = {}
    groups = _groups(data.get("score_groups", []), errors, seen_keys=group_keys)
    rules = _rules(data.get("rules", []), errors, seen=rule_keys)
    decay = _decay(data.get("decay"), errors)
    scorecards = _scorecards(data.get("scorecards", []), errors, group_keys, rule_keys)
    declared = _event_types(data["event_types"], errors) if "event_types" in data else None
    account_groups = _groups(data["account_groups"], errors, "account_groups") if "account_groups" in data else None
    accounts = _accounts(data["accounts"], errors) if "accounts" in data else None
    parsed: dict[str, Any] = {}
    for section in sections():
        values = {key: data[key] for key in section.keys if key in data}
        if values:
            parsed[section.name] = section.parse(values, errors)
    scoring = any(key in data for key in _SCORING_KEYS)
    if not scoring and not parsed and declared is None and account_groups is None and accounts is None:
        allowed = ", ".join(
            [
                *_SCORING_KEYS,
                "event_types",
                "account_groups",
                "accounts",
                *(k for s in _SECTIONS.values() for k in s.keys),
            ]
        )
        errors.append(
            Problem(gettext_noop("the file holds nothing to import (give one or more of {keys})"), keys=allowed)
        )
    if errors:
        raise ModelFileError(errors)
    return ModelSpec(
        name=name,
        description=description,
        groups=tuple(groups),
        rules=tuple(rules),
        decay=decay,
        scoring=scoring,
        sections=MappingProxyType(parsed),
        event_types=None if declared is None else tuple(declared),
        account_groups=None if account_groups is None else tuple(account_groups),
        accounts=accounts,
        scorecards=tuple(scorecards),
    )


def _scorecards(
    data: object, errors: list[str], group_keys: dict[str, str], rule_keys: dict[str, str]
) -> list[ScorecardSpec]:
    """The ``scorecards`` section: [{key, name, description, score_groups, rules, decay}, …].
    ``group_keys`` and ``rule_keys`` hold the keys given so far (key -> place): keys are
    unique across the whole file."""
    specs: list[ScorecardSpec] = []
    seen: dict[str, str] = {
        DEFAULT_SCORECARD: Problem(gettext_noop("the default scorecard (the top-level score_groups, rules and decay)"))
    }
    for index, raw in enumerate(checks.items(data, "scorecards", errors)):
        where = f"scorecards[{index}]"
        item = checks.mapping(
            raw, where, errors, holding=Problem(gettext_noop("with key, name, score_groups, rules and decay"))
        )
        if item is None:
            continue
        checks.unknown_keys(item, _SCORECARD_KEYS, where, errors)
        key = checks.key(item, where, seen, errors, max_length=SCORECARD_KEY_MAX_LENGTH)
        name = checks.text(item, "name", where, errors, required=True, max_length=SCORECARD_NAME_MAX_LENGTH)
        specs.append(
            ScorecardSpec(
                key=key,
                name=name,
                description=checks.text(item, "description", where, errors),
                groups=tuple(
                    _groups(item.get("score_groups", []), errors, f"{where}.score_groups", seen_keys=group_keys)
                ),
                rules=tuple(_rules(item.get("rules", []), errors, f"{where}.rules", seen=rule_keys)),
                decay=_decay(item.get("decay"), errors, f"{where}.decay"),
            )
        )
    return specs


def _event_types(data: object, errors: list[str]) -> list[EventTypeSpec]:
    """The ``event_types`` section: [{key, label, segment_events: [name, …]}, …]."""
    specs: list[EventTypeSpec] = []
    seen: dict[str, str] = {}
    names: dict[str, str] = {}  # matched name -> where it was first given
    for index, raw in enumerate(checks.items(data, "event_types", errors)):
        where = f"event_types[{index}]"
        item = checks.mapping(raw, where, errors, holding=Problem(gettext_noop("with key, label and segment_events")))
        if item is None:
            continue
        checks.unknown_keys(item, _EVENT_TYPE_KEYS, where, errors)
        key = checks.text(item, "key", where, errors, required=True)
        if key:
            problem = types.type_name_problem(key, phrase=LATER.phrase)
            if problem:
                errors.append(at(f"{where}.key", problem))
            elif key in seen:
                errors.append(
                    Problem(
                        gettext_noop("{place}: '{value}' is also declared at {other}"),
                        place=f"{where}.key",
                        value=key,
                        other=seen[key],
                    )
                )
            else:
                seen[key] = where
        label = checks.text(item, "label", where, errors).strip()
        if len(label) > types.MAX_LABEL_LENGTH:
            errors.append(Problem(AT_MOST_CHARACTERS, place=f"{where}.label", limit=types.MAX_LABEL_LENGTH))
        if label and key in types.BUILT_IN:
            errors.append(
                Problem(
                    gettext_noop("{place}: {value} is built in, its label is '{label}'; leave label out"),
                    place=f"{where}.label",
                    value=key,
                    label=Problem(types.BUILT_IN[key]),
                )
            )
        given = item.get("segment_events", [])
        if not isinstance(given, list):
            errors.append(
                Problem(gettext_noop("{place}: must be a list of Segment event names"), place=f"{where}.segment_events")
            )
            given = []
        segment_events: list[str] = []
        for n, name in enumerate(given):
            place = f"{where}.segment_events[{n}]"
            if not isinstance(name, str) or not name.strip():
                errors.append(
                    Problem(
                        gettext_noop("{place}: must be an event name as Segment sends it, e.g. Trial Started"),
                        place=place,
                    )
                )
                continue
            if "\x00" in name:
                errors.append(Problem(checks.NUL, place=place))
                continue
            if len(name.strip()) > types.MAX_NAME_LENGTH:
                errors.append(Problem(AT_MOST_CHARACTERS, place=place, limit=types.MAX_NAME_LENGTH))
                continue
            matched = types.name_key(name)
            if matched in names:
                errors.append(
                    Problem(
                        gettext_noop("{place}: '{value}' is also given at {other} (case is ignored)"),
                        place=place,
                        value=name.strip(),
                        other=names[matched],
                    )
                )
                continue
            names[matched] = place
            segment_events.append(name.strip())
        specs.append(EventTypeSpec(key, label, tuple(segment_events)))
    return specs


def _groups(
    data: object, errors: list[str], section: str = "score_groups", *, seen_keys: dict[str, str] | None = None
) -> list[GroupSpec]:
    """A list of groups (``score_groups`` for leads, ``account_groups`` for accounts):
    unique keys (also among ``seen_keys``, key -> place, when given) and thresholds,
    ``leave_below`` at most ``min_score``."""
    groups: list[GroupSpec] = []
    seen_keys = {} if seen_keys is None else seen_keys
    seen_scores: dict[int, str] = {}
    for index, raw in enumerate(checks.items(data, section, errors)):
        where = f"{section}[{index}]"
        item = checks.mapping(raw, where, errors, holding=Problem(gettext_noop("with key, name and min_score")))
        if item is None:
            continue
        checks.unknown_keys(item, _GROUP_KEYS, where, errors)
        key = checks.key(item, where, seen_keys, errors, max_length=GROUP_KEY_MAX_LENGTH)
        name = checks.text(item, "name", where, errors, required=True, max_length=GROUP_NAME_MAX_LENGTH)
        min_score = checks.whole_number(item, "min_score", where, errors, required=True)
        if min_score is not None:
            if min_score in seen_scores:
                errors.append(
                    Problem(
                        gettext_noop("{place}: {value} is already the threshold of {other}"),
                        place=f"{where}.min_score",
                        value=min_score,
                        other=seen_scores[min_score],
                    )
                )
            seen_scores[min_score] = key
        leave_below = checks.whole_number(item, "leave_below", where, errors)
        if leave_below is not None and min_score is not None and leave_below > min_score:
            errors.append(
                Problem(
                    gettext_noop("{place}: {value} must be at most min_score ({limit})"),
                    place=f"{where}.leave_below",
                    value=leave_below,
                    limit=min_score,
                )
            )
        groups.append(
            GroupSpec(
                key, name, min_score or 0, checks.text(item, "description", where, errors), leave_below=leave_below
            )
        )
    return groups


def _decay(data: object, errors: list[str], where: str = "decay") -> decay_math.Policy:
    """The ``decay`` section: {policy: none|linear|half_life|window, …}."""
    if data is None:
        return decay_math.Policy()
    section = checks.mapping(data, where, errors, holding=Problem(gettext_noop("with policy and its settings")))
    if section is None:
        return decay_math.Policy()
    checks.unknown_keys(section, _DECAY_KEYS, where, errors)
    kind_text = section.get("policy", "none")
    try:
        kind = decay_math.Kind(kind_text)
    except ValueError:
        kinds = ", ".join(k.value for k in decay_math.Kind)
        errors.append(Problem(checks.NOT_ONE_OF, place=f"{where}.policy", value=kind_text, choices=kinds))
        return decay_math.Policy()
    used = _DECAY_SETTINGS[kind]
    for key in sorted(set(section) & _DECAY_KEYS - used - {"policy"}):
        if used:
            message = gettext_noop("{place}: not used by the {policy} policy (its settings: {settings})")
            errors.append(Problem(message, place=f"{where}.{key}", policy=kind.value, settings=", ".join(sorted(used))))
        else:
            message = gettext_noop("{place}: not used by the {policy} policy (its settings: none)")
            errors.append(Problem(message, place=f"{where}.{key}", policy=kind.value))
    settings_from = len(errors)
    numbers = {
        name: checks.whole_number(section, name, where, errors)
        for name in ("points_per_day", "after_days", "window_days")
    }
    half_life = section.get("half_life_days", 0)
    if not isinstance(half_life, int | float) or isinstance(half_life, bool):
        errors.append(Problem(gettext_noop("{place}: must be a number of days"), place=f"{where}.half_life_days"))
        half_life = 0
    elif half_life > checks.WHOLE_MAX:
        # More days than any decay counts (and, written as a whole number, than a float holds).
        errors.append(
            Problem(
                gettext_noop("{place}: at most {limit} days"), place=f"{where}.half_life_days", limit=checks.WHOLE_MAX
            )
        )
        half_life = checks.WHOLE_MAX
    elif half_life < 0:
        half_life = -1  # check_policy says why; a whole number may hold more than a float
    policy = decay_math.Policy(
        kind=kind,
        points_per_day=numbers["points_per_day"] or 0,
        after_days=numbers["after_days"] or 0,
        half_life_days=float(half_life),
        window_days=numbers["window_days"] or 0,
        floor=checks.whole_number(section, "floor", where, errors) or 0,
    )
    told = {error.partition(":")[0] for error in errors[settings_from:]}
    for name, message in decay_math.check_policy(policy, words=LATER).items():
        if f"{where}.{name}" not in told:  # a number past its column is told once
            errors.append(at(f"{where}.{name}", message))
    return policy


def _when(item: dict[str, Any], key: str, where: str, errors: list[str]) -> datetime | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            errors.append(
                Problem(
                    gettext_noop("{place}: '{value}' is not an ISO 8601 date and time"),
                    place=f"{where}.{key}",
                    value=value,
                )
            )
            return None
    if not isinstance(value, datetime):
        errors.append(
            Problem(
                gettext_noop("{place}: must be a date and time such as 2026-01-31T00:00:00Z"), place=f"{where}.{key}"
            )
        )
        return None
    if value.tzinfo is None:
        errors.append(
            Problem(gettext_noop("{place}: give a time zone, e.g. 2026-01-31T00:00:00Z"), place=f"{where}.{key}")
        )
        return None
    # In UTC: Python reads offsets up to 23:59, PostgreSQL holds them up to 15:59 only.
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00, whose instant is in 1 BC
        if value.year == MAXYEAR:
            message = gettext_noop("{place}: '{value}' is after the last year a date can have")
        else:
            message = gettext_noop("{place}: '{value}' is before the first year a date can have")
        errors.append(Problem(message, place=f"{where}.{key}", value=value.isoformat()))
        return None


# What is wrong with one condition (field, operator, value), by its part: a lead rule's
# (pure.check_condition, for its dimension) or an account rule's (check_account_condition).
_ConditionCheck = Callable[[str, str, object], dict[str, str]]


def _rules(
    data: object, errors: list[str], section: str = "rules", *, seen: dict[str, str] | None = None
) -> list[RuleSpec]:
    """A list of rules; keys unique, also among ``seen`` (key -> place) when given."""
    specs: list[RuleSpec] = []
    seen = {} if seen is None else seen
    for index, raw in enumerate(checks.items(data, section, errors)):
        where = f"{section}[{index}]"
        item = checks.mapping(raw, where, errors)
        if item is None:
            continue
        checks.unknown_keys(item, _RULE_KEYS, where, errors)
        key = checks.key(item, where, seen, errors, max_length=RULE_KEY_MAX_LENGTH)
        name = checks.text(item, "name", where, errors, required=True, max_length=RULE_NAME_MAX_LENGTH)
        dimension = checks.text(item, "dimension", where, errors, required=True)
        match = checks.choice(item, "match", where, errors, [m.value for m in pure.Match]) or pure.Match.ALL.value
        types_raw = item.get("interaction_types", [])
        if not isinstance(types_raw, list) or not all(isinstance(t, str) for t in types_raw):
            errors.append(
                Problem(
                    gettext_noop("{place}: must be a list of interaction types"), place=f"{where}.interaction_types"
                )
            )
            types_raw = []
        cap = checks.mapping(
            item.get("cap") or {},
            f"{where}.cap",
            errors,
            holding=Problem(gettext_noop("with count, points and/or window_days")),
        )
        cap = cap if cap is not None else {}
        checks.unknown_keys(cap, _CAP_KEYS, f"{where}.cap", errors)
        active = checks.flag(item, "active", where, errors, default=True)
        try:
            checked: _ConditionCheck | None = functools.partial(
                pure.check_condition, dimension=pure.Dimension(dimension), words=LATER
            )
        except ValueError:  # told by check_rule below
            checked = None
        conditions = _conditions(item.get("conditions", []), where, errors, checked)
        points = item.get("points")
        valid_from = _when(item, "valid_from", where, errors)
        valid_until = _when(item, "valid_until", where, errors)
        cap_count = cap.get("count")
        cap_points = cap.get("points")
        cap_window = cap.get("window_days")
        if dimension:
            rule_errors = pure.check_rule(
                dimension=dimension,
                points=points,
                interaction_types=types_raw,
                condition_count=len(conditions),
                cap_count=cap_count,
                cap_points=cap_points,
                cap_window_days=cap_window,
                valid_from=valid_from,
                valid_until=valid_until,
                words=LATER,
            )
            place = {"cap_count": "cap.count", "cap_points": "cap.points", "cap_window_days": "cap.window_days"}
            for attr, message in rule_errors.items():
                errors.append(at(f"{where}.{place.get(attr, attr)}", message))
            # The database's integer columns: a number past them is refused here, not by the database.
            for attr, value in (
                ("points", points),
                ("cap_count", cap_count),
                ("cap_points", cap_points),
                ("cap_window_days", cap_window),
            ):
                if attr not in rule_errors:
                    checks.within_whole(value, f"{where}.{place.get(attr, attr)}", errors)
        specs.append(
            RuleSpec(
                key=key,
                name=name,
                dimension=dimension,
                points=points if isinstance(points, int) else 0,
                description=checks.text(item, "description", where, errors),
                match=match,
                conditions=tuple(conditions),
                interaction_types=tuple(types_raw),
                cap_count=cap_count,
                cap_points=cap_points,
                cap_window_days=cap_window,
                active=active,
                valid_from=valid_from,
                valid_until=valid_until,
            )
        )
    return specs


def _conditions(data: object, where: str, errors: list[str], check: _ConditionCheck | None) -> list[ConditionSpec]:
    """A rule's ``conditions``, each checked by ``check`` (None: the rule's kind is unknown,
    told already, so only their form is checked)."""
    conditions = []
    for index, raw in enumerate(checks.items(data, f"{where}.conditions", errors)):
        place = f"{where}.conditions[{index}]"
        item = checks.mapping(raw, place, errors, holding=Problem(gettext_noop("with field, operator and value")))
        if item is None:
            continue
        checks.unknown_keys(item, _CONDITION_KEYS, place, errors)
        field_name = item.get("field") or ""
        operator = item.get("operator") or ""
        value = item.get("value")
        if not isinstance(field_name, str) or not isinstance(operator, str):
            errors.append(Problem(gettext_noop("{place}: field and operator must be text"), place=place))
            continue
        if checks.without_nul(value, f"{place}.value", errors) and check is not None:
            for attr, message in check(field_name, operator, value).items():
                errors.append(at(f"{place}.{attr}", message))
        conditions.append(ConditionSpec(field_name, operator, value))
    return conditions


def _accounts(data: object, errors: list[str]) -> AccountsSpec:
    """The ``accounts`` section: {rollup, top_n, rules: [account fit rule, …]}."""
    where = "accounts"
    section = checks.mapping(data, where, errors, holding=Problem(gettext_noop("with rollup, top_n and rules")))
    if section is None:
        return AccountsSpec()
    checks.unknown_keys(section, _ACCOUNTS_KEYS, where, errors)
    methods = [m.value for m in account_math.Rollup]
    rollup = checks.choice(section, "rollup", where, errors, methods) or account_math.Rollup.SUM.value
    top_n = None
    if rollup == account_math.Rollup.TOP_AVERAGE.value:
        top_n = checks.whole_number(
            section, "top_n", where, errors, minimum=1, maximum=TOP_N_MAX, default=TOP_N_DEFAULT
        )
    elif "top_n" in section and rollup in methods:
        errors.append(
            Problem(
                gettext_noop("{place}: not used by the {rollup} roll-up (only top_average reads it)"),
                place=f"{where}.top_n",
                rollup=rollup,
            )
        )
    return AccountsSpec(rollup=rollup, top_n=top_n, rules=tuple(_account_rules(section.get("rules", []), errors)))


def _account_rules(data: object, errors: list[str]) -> list[AccountRuleSpec]:
    """``accounts.rules``: account fit rules, written as a lead's fit rules are (without
    dimension), their conditions on the account's fields; keys unique among them."""
    specs: list[AccountRuleSpec] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(checks.items(data, "accounts.rules", errors)):
        where = f"accounts.rules[{index}]"
        item = checks.mapping(
            raw, where, errors, holding=Problem(gettext_noop("with key, name, points and conditions"))
        )
        if item is None:
            continue
        checks.unknown_keys(item, _ACCOUNT_RULE_KEYS, where, errors)
        key = checks.key(item, where, seen, errors, max_length=ACCOUNT_RULE_KEY_MAX_LENGTH)
        name = checks.text(item, "name", where, errors, required=True, max_length=RULE_NAME_MAX_LENGTH)
        points = checks.whole_number(item, "points", where, errors, required=True)
        if points == 0:
            message = gettext_noop("{place}: a rule worth 0 points does nothing; give it positive or negative points")
            errors.append(Problem(message, place=f"{where}.points"))
        match = checks.choice(item, "match", where, errors, [m.value for m in pure.Match]) or pure.Match.ALL.value
        check = functools.partial(account_math.check_account_condition, words=LATER)
        conditions = _conditions(item.get("conditions"), where, errors, check)
        if item.get("conditions") in (None, []):
            message = gettext_noop("{place}: an account fit rule needs at least one condition")
            errors.append(Problem(message, place=f"{where}.conditions"))
        active = checks.flag(item, "active", where, errors, default=True)
        specs.append(AccountRuleSpec(key, name, points or 0, match, tuple(conditions), active))
    return specs


# --- writing -----------------------------------------------------------------------


def dump_data(spec: ModelSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"leadflow_model": FORMAT_VERSION}
    if spec.name:
        data["name"] = spec.name
    if spec.description:
        data["description"] = spec.description
    if spec.scoring:
        data["score_groups"] = [_group_data(g) for g in spec.groups]
        data["rules"] = [_rule_data(r) for r in spec.rules]
        if spec.decay.kind is not decay_math.Kind.NONE:
            data["decay"] = _decay_data(spec.decay)
        # Only when there are some: a single-score model's file stays as it always was.
        if spec.scorecards:
            data["scorecards"] = [_scorecard_data(s) for s in spec.scorecards]
    if spec.event_types:
        data["event_types"] = [event_type_data(t) for t in spec.event_types]
    if spec.account_groups:
        data["account_groups"] = [_group_data(g) for g in spec.account_groups]
    if spec.accounts is not None:
        data["accounts"] = _accounts_data(spec.accounts)
    for section in sections():
        if section.name in spec.sections:
            data.update(section.dump(spec.sections[section.name]))
    return data


def _accounts_data(spec: AccountsSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"rollup": spec.rollup}
    if spec.rollup == account_math.Rollup.TOP_AVERAGE.value:
        data["top_n"] = spec.top_n if spec.top_n is not None else TOP_N_DEFAULT
    data["rules"] = [_account_rule_data(r) for r in spec.rules]
    return data


def _account_rule_data(rule: AccountRuleSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"key": rule.key, "name": rule.name, "points": rule.points}
    if rule.match != pure.Match.ALL.value:
        data["match"] = rule.match
    data["conditions"] = _conditions_data(rule.conditions)
    if not rule.active:
        data["active"] = False
    return data


def _conditions_data(conditions: tuple[ConditionSpec, ...]) -> list[dict[str, Any]]:
    return [
        {"field": c.field, "operator": c.operator, **({"value": c.value} if c.value is not None else {})}
        for c in conditions
    ]


def _scorecard_data(spec: ScorecardSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"key": spec.key, "name": spec.name}
    if spec.description:
        data["description"] = spec.description
    data["score_groups"] = [_group_data(g) for g in spec.groups]
    data["rules"] = [_rule_data(r) for r in spec.rules]
    if spec.decay.kind is not decay_math.Kind.NONE:
        data["decay"] = _decay_data(spec.decay)
    return data


def event_type_data(spec: EventTypeSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"key": spec.key}
    if spec.label:
        data["label"] = spec.label
    if spec.segment_events:
        data["segment_events"] = list(spec.segment_events)
    return data


def _decay_data(policy: decay_math.Policy) -> dict[str, Any]:
    data: dict[str, Any] = {"policy": policy.kind.value}
    if policy.kind in (decay_math.Kind.LINEAR, decay_math.Kind.HALF_LIFE):
        data["after_days"] = policy.after_days
    if policy.kind is decay_math.Kind.LINEAR:
        data["points_per_day"] = policy.points_per_day
    if policy.kind is decay_math.Kind.HALF_LIFE:
        data["half_life_days"] = policy.half_life_days
    if policy.kind is decay_math.Kind.WINDOW:
        data["window_days"] = policy.window_days
    if policy.floor:
        data["floor"] = policy.floor
    return data


def dump_text(spec: ModelSpec) -> str:
    return yaml.safe_dump(dump_data(spec), sort_keys=False, allow_unicode=True, width=100)


def _group_data(group: GroupSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"key": group.key, "name": group.name, "min_score": group.min_score}
    if group.leave_below is not None:
        data["leave_below"] = group.leave_below
    if group.description:
        data["description"] = group.description
    return data


def _rule_data(rule: RuleSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"key": rule.key, "name": rule.name}
    if rule.description:
        data["description"] = rule.description
    data["dimension"] = rule.dimension
    data["points"] = rule.points
    if rule.match != pure.Match.ALL.value:
        data["match"] = rule.match
    if rule.interaction_types:
        data["interaction_types"] = list(rule.interaction_types)
    if rule.conditions:
        data["conditions"] = _conditions_data(rule.conditions)
    cap = {
        name: value
        for name, value in (
            ("count", rule.cap_count),
            ("points", rule.cap_points),
            ("window_days", rule.cap_window_days),
        )
        if value is not None
    }
    if cap:
        data["cap"] = cap
    if not rule.active:
        data["active"] = False
    if rule.valid_from:
        data["valid_from"] = rule.valid_from.isoformat()
    if rule.valid_until:
        data["valid_until"] = rule.valid_until.isoformat()
    return data
