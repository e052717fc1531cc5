"""Replaying history under a model, and comparing two models: pure, no database.

The service (:mod:`scoring.services.replay`) streams the leads in id order, chunk by
chunk, each chunk with the window's interactions of its leads in time order; this
module scores every lead under both models in the same pass and folds what it finds
into a :class:`Comparison`. Scoring is the engine's own, from :mod:`scoring.rules` and
:mod:`scoring.decay`:

- fit: the fit rules in force at the window's end that the lead's fields meet now;
- engagement: :func:`scoring.rules.score_interactions` over the window's interactions
  (caps and their windows judged in time order, as a rescore does), the window
  starting with no history;
- decay: as the nightly decay leaves a lead whose base is its engagement after its
  last interaction: before each interaction the engagement is taken down to the
  policy's goal for that day, and at the end to the goal for the window's last day;
- group: :func:`scoring.rules.group_for` of the total, with no earlier group (the
  replay starts every lead afresh, so no hysteresis).

Nothing here depends on how the leads are split into chunks: a lead's score reads only
its own rows, and a comparison's figures are sums (the sample of moved leads keeps the
lowest ids), so merging chunk results in any split gives the same comparison.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any

from scoring import decay, model_file
from scoring import rules as pure

# The model file's keys that make the scoring model (other apps' sections are not replayed).
_SCORING_KEYS = ("leadflow_model", "score_groups", "rules", "decay", "scorecards")
# Leads that would move kept as examples in a result, the lowest ids first.
SAMPLE_SIZE = 500
# A lead in no group (below every threshold).
NO_GROUP = ""
# How a comparison names it (the command line prints it; the admin translates it).
NO_GROUP_NAME = "No group"


@dataclass(frozen=True)
class Model:
    """A model file's scoring part, ready to score with."""

    rules: tuple[pure.Rule, ...]
    bands: tuple[pure.Band, ...]
    policy: decay.Policy
    group_keys: Mapping[int, str]  # band id -> group key
    group_names: Mapping[str, str]  # group key -> name
    rule_keys: Mapping[int, str]  # rule id -> rule key
    rule_names: Mapping[str, str]  # rule key -> name

    @property
    def fit_rules(self) -> tuple[pure.Rule, ...]:
        return tuple(r for r in self.rules if r.dimension is pure.Dimension.FIT)

    @property
    def engagement_rules(self) -> tuple[pure.Rule, ...]:
        return tuple(r for r in self.rules if r.dimension is pure.Dimension.ENGAGEMENT)


def spec_load(data: Mapping[str, Any]) -> model_file.ModelSpec:
    """The scoring part of model-file ``data``, checked (:class:`model_file.ModelFileError`)."""
    return model_file.load_data({key: data[key] for key in _SCORING_KEYS if key in data})


def models_build(*specs: model_file.ModelSpec) -> list[Model]:
    """The specs as models whose rules and groups share ids by key, so that the same rule
    or group in two models is one thing to compare."""
    rule_ids = {key: n for n, key in enumerate(sorted({r.key for s in specs for r in s.rules}), start=1)}
    group_ids = {key: n for n, key in enumerate(sorted({g.key for s in specs for g in s.groups}), start=1)}
    return [_model(spec, rule_ids, group_ids) for spec in specs]


@dataclass(frozen=True)
class ScorecardPair:
    """One scorecard beside the default one, as the live model and the replayed one hold
    it: a scorecard only one of them has is an empty model (no rules, no groups) in the other."""

    key: str
    name: str
    live: Model
    draft: Model


def scorecards_build(live: model_file.ModelSpec, draft: model_file.ModelSpec) -> tuple[ScorecardPair, ...]:
    """The scorecards of either spec (the draft's order, then those only the live model
    has), each as a pair of models whose rules and groups share ids by key."""
    live_cards = {card.key: card for card in live.scorecards}
    draft_cards = {card.key: card for card in draft.scorecards}
    pairs = []
    for key in [*draft_cards, *(k for k in live_cards if k not in draft_cards)]:
        named = draft_cards.get(key) or live_cards[key]
        empty = model_file.ScorecardSpec(key=key, name=named.name)
        before, after = live_cards.get(key, empty), draft_cards.get(key, empty)
        rule_ids = {k: n for n, k in enumerate(sorted({r.key for s in (before, after) for r in s.rules}), start=1)}
        group_ids = {k: n for n, k in enumerate(sorted({g.key for s in (before, after) for g in s.groups}), start=1)}
        pairs.append(
            ScorecardPair(key, named.name, _model(before, rule_ids, group_ids), _model(after, rule_ids, group_ids))
        )
    return tuple(pairs)


def pair_models(pairs: Iterable[ScorecardPair]) -> list[Model]:
    """Every model of ``pairs``, both sides."""
    return [model for pair in pairs for model in (pair.live, pair.draft)]


def _model(
    spec: model_file.ModelSpec | model_file.ScorecardSpec, rule_ids: Mapping[str, int], group_ids: Mapping[str, int]
) -> Model:
    rules = []
    for r in spec.rules:
        cap = None
        if r.cap_count is not None or r.cap_points is not None:
            cap = pure.Cap(count=r.cap_count, points=r.cap_points, window_days=r.cap_window_days)
        rules.append(
            pure.Rule(
                id=rule_ids[r.key],
                dimension=pure.Dimension(r.dimension),
                points=r.points,
                conditions=tuple(
                    pure.Condition(field=c.field, operator=pure.Operator(c.operator), value=c.value)
                    for c in r.conditions
                ),
                match=pure.Match(r.match),
                interaction_types=frozenset(r.interaction_types),
                cap=cap,
                active=r.active,
                valid_from=r.valid_from,
                valid_until=r.valid_until,
            )
        )
    return Model(
        rules=tuple(rules),
        bands=tuple(pure.Band(group_ids[g.key], g.min_score, g.leave_below) for g in spec.groups),
        policy=spec.decay,
        group_keys={group_ids[g.key]: g.key for g in spec.groups},
        group_names={g.key: g.name for g in spec.groups},
        rule_keys={rule_ids[r.key]: r.key for r in spec.rules},
        rule_names={r.key: r.name for r in spec.rules},
    )


def fit_fields(models: Iterable[Model]) -> set[str]:
    """The lead fields the models' fit rules read (``attributes.<name>`` as ``attributes``)."""
    wanted = set()
    for model in models:
        for rule in model.fit_rules:
            for condition in rule.conditions:
                name = condition.field
                if name.startswith(pure.CUSTOM_PREFIX):
                    wanted.add("attributes")
                elif name == "email_domain":
                    wanted.add("email")
                else:
                    wanted.add(name)
    return wanted


def types_with_conditions(models: Iterable[Model]) -> set[str]:
    """The interaction types whose properties an engagement rule tests (the others' are not read)."""
    return {t for model in models for rule in model.engagement_rules if rule.conditions for t in rule.interaction_types}


@dataclass(frozen=True)
class Clock:
    """Where the replay's window ends: the instant (fit rules in force, the window's end)
    and the site's time zone (decay counts days on its calendar)."""

    end: datetime
    tz: tzinfo

    @property
    def today(self) -> date:
        return self.end.astimezone(self.tz).date()


@dataclass(frozen=True)
class LeadFacts:
    id: int
    email: str
    values: Mapping[str, object]  # what fit conditions read (scoring.rules.lead_values)


@dataclass(frozen=True)
class LeadScore:
    fit: int
    engagement: int
    group: str  # the group's key, NO_GROUP when below every threshold
    points: Mapping[int, int]  # rule id -> points it gave (fit, and engagement before decay)

    @property
    def total(self) -> int:
        return self.fit + self.engagement


_NOT_FROM_BASE = (decay.Kind.NONE, decay.Kind.WINDOW)


class _DecayMemo(dict[tuple[int, int], int]):
    """Engagement after the nightly decay, by (base, whole days since the base's day),
    each pair worked out once: a chunk asks for the same few small pairs tens of thousands
    of times. Called with days > 0 (the same day, nothing decays)."""

    def __init__(self, policy: decay.Policy) -> None:
        super().__init__()
        self.policy = policy
        self.still = policy.kind in _NOT_FROM_BASE

    def __call__(self, engagement: int, days: int) -> int:
        if self.still or engagement <= self.policy.floor:
            return engagement
        found = self.get((engagement, days))
        if found is None:
            found = self[engagement, days] = _decayed(self.policy, engagement, days)
        return found


def _decayed(policy: decay.Policy, engagement: int, days: int) -> int:
    """Engagement ``engagement`` (the base) ``days`` whole days after its base's day, after the nightly decay."""
    goal = decay.target(policy, base=engagement, days=max(0, days))
    return engagement + decay.decay_delta(policy, current=engagement, goal=goal)


def _window_decayed(policy: decay.Policy, engagement: int, awards: Iterable[pure.Award], clock: Clock) -> int:
    """A window policy's engagement on the window's last day: the points of its last
    ``window_days`` days (as the nightly decay counts them), never raised."""
    midnight = datetime.combine(clock.today, time.min, tzinfo=clock.tz)
    start = decay.days_before(midnight, policy.window_days - 1)
    recent = sum(a.points for a in awards if start is None or a.occurred_at >= start)
    goal = decay.window_target(policy, recent=recent)
    return engagement + decay.decay_delta(policy, current=engagement, goal=goal)


class _Chunk:
    """One chunk of leads with their interactions, and the work both models share: each
    distinct rule's awards are computed once, each fit rule once per distinct set of the
    values fit rules read, each interaction's day once."""

    def __init__(
        self,
        leads: Sequence[LeadFacts],
        interactions: Sequence[pure.InteractionFacts],
        clock: Clock,
        fit_reads: Sequence[str],
    ) -> None:
        self.leads = sorted(leads, key=lambda lead: lead.id)
        ids = {lead.id for lead in leads}
        self.interactions = sorted(
            (i for i in interactions if i.lead_id in ids), key=lambda i: (i.lead_id, i.occurred_at, i.id)
        )
        self.clock = clock
        self.fit_reads = fit_reads
        # Each interaction's day on the site's calendar, as a day number (decay counts whole days).
        self.timeline: dict[int, list[tuple[int, int]]] = {}
        tz = clock.tz
        for i in self.interactions:
            self.timeline.setdefault(i.lead_id, []).append((i.id, i.occurred_at.astimezone(tz).toordinal()))
        # Leads whose fit rules read the same values get the same fit: judged once.
        self.fit_keys = {lead.id: tuple(repr(lead.values.get(name)) for name in fit_reads) for lead in self.leads}
        self._awards: list[tuple[pure.Rule, list[pure.Award]]] = []
        self._fit: list[tuple[pure.Rule, dict[tuple[str, ...], bool]]] = []

    def awards(self, rule: pure.Rule) -> list[pure.Award]:
        """The rule's awards to these leads: caps are per lead and rule, so a rule scored
        over the interactions it may match gives what scoring them all with every rule does."""
        for known, awards in self._awards:
            if known == rule:
                return awards
        matching = [i for i in self.interactions if i.type in rule.interaction_types]
        awards = pure.score_interactions([rule], matching, {})
        self._awards.append((rule, awards))
        return awards

    def fit_holds(self, rule: pure.Rule, lead: LeadFacts) -> bool:
        memo = next((memo for known, memo in self._fit if known == rule), None)
        if memo is None:
            memo = {}
            self._fit.append((rule, memo))
        key = self.fit_keys[lead.id]
        held = memo.get(key)
        if held is None:
            held = memo[key] = bool(pure.fit_targets([rule], lead.values, at=self.clock.end))
        return held

    def scores(self, model: Model) -> dict[int, LeadScore]:
        clock, policy = self.clock, model.policy
        by_interaction: Counter[int] = Counter()
        awards_of: dict[int, list[pure.Award]] = {}
        for rule in model.engagement_rules:
            for award in self.awards(rule):
                by_interaction[award.interaction_id] += award.points
                awards_of.setdefault(award.lead_id, []).append(award)
        fit_rules = model.fit_rules
        today = clock.today.toordinal()
        decayed = _DecayMemo(policy)
        fit_of: dict[tuple[str, ...], dict[int, int]] = {}
        scores: dict[int, LeadScore] = {}
        for lead in self.leads:
            key = self.fit_keys[lead.id]
            if key not in fit_of:
                fit_of[key] = {r.id: r.points for r in fit_rules if self.fit_holds(r, lead)}
            points: Counter[int] = Counter(fit_of[key])
            fit = sum(points.values())
            engagement, since = 0, None
            for interaction_id, day in self.timeline.get(lead.id, ()):
                # What the nightly decay left by the day of this interaction, then its points: the
                # new base, from this day (an interaction worth nothing restarts the count too).
                if since is not None and day != since:
                    engagement = decayed(engagement, day - since)
                engagement += by_interaction.get(interaction_id, 0)
                since = day
            lead_awards = awards_of.get(lead.id, ())
            for award in lead_awards:
                points[award.rule_id] += award.points
            if policy.kind is decay.Kind.WINDOW:
                if since is not None:
                    engagement = _window_decayed(policy, engagement, lead_awards, clock)
            elif since is not None and today != since:
                engagement = decayed(engagement, today - since)
            band = pure.group_for(fit + engagement, model.bands)
            group = model.group_keys[band] if band is not None else NO_GROUP
            scores[lead.id] = LeadScore(fit, engagement, group, dict(points))
        return scores


def fit_reads(models: Iterable[Model]) -> list[str]:
    """The names fit conditions read (lead fields, email_domain, attributes.<name>)."""
    return sorted({c.field for m in models for r in m.fit_rules for c in r.conditions})


def leads_score(
    model: Model,
    leads: Sequence[LeadFacts],
    interactions: Sequence[pure.InteractionFacts],
    clock: Clock,
) -> dict[int, LeadScore]:
    """Each lead's scores under ``model``: ``interactions`` are the leads' interactions
    of the window (any order; those of other leads are ignored)."""
    return _Chunk(leads, interactions, clock, fit_reads([model])).scores(model)


# --- comparing two models ----------------------------------------------------------------


@dataclass
class Side:
    """What one model gives the replayed leads."""

    groups: Counter[str] = field(default_factory=Counter)
    rule_points: Counter[int] = field(default_factory=Counter)
    points: int = 0  # the leads' totals added up
    # (group, won) -> leads with that closed outcome
    outcomes: Counter[tuple[str, bool]] = field(default_factory=Counter)
    # (total, won) -> leads with that closed outcome: the AUC and ROC from it, exactly
    totals: Counter[tuple[int, bool]] = field(default_factory=Counter)

    def add(self, score: LeadScore, won: bool | None) -> None:
        self.groups[score.group] += 1
        self.rule_points.update(score.points)
        self.points += score.total
        if won is not None:
            self.outcomes[(score.group, won)] += 1
            self.totals[(score.total, won)] += 1

    def merge(self, other: Side) -> None:
        self.groups.update(other.groups)
        self.rule_points.update(other.rule_points)
        self.points += other.points
        self.outcomes.update(other.outcomes)
        self.totals.update(other.totals)


@dataclass(frozen=True)
class Moved:
    lead_id: int
    email: str
    live_total: int
    draft_total: int
    live_group: str
    draft_group: str


@dataclass
class Comparison:
    """Two models over the same leads: folded chunk by chunk, merged in any order."""

    leads: int = 0
    live: Side = field(default_factory=Side)
    draft: Side = field(default_factory=Side)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    sample: list[Moved] = field(default_factory=list)
    raised: int = 0  # leads whose total the draft raises
    lowered: int = 0  # and lowers
    # The same for each scorecard beside the default one, by its key.
    scorecards: dict[str, Comparison] = field(default_factory=dict)

    def add(self, lead: LeadFacts, live: LeadScore, draft: LeadScore, won: bool | None) -> None:
        self.leads += 1
        self.live.add(live, won)
        self.draft.add(draft, won)
        if draft.total != live.total:
            if draft.total > live.total:
                self.raised += 1
            else:
                self.lowered += 1
        if live.group != draft.group:
            self.moves[(live.group, draft.group)] += 1
            if len(self.sample) < SAMPLE_SIZE or lead.id < self.sample[-1].lead_id:
                moved = Moved(lead.id, lead.email, live.total, draft.total, live.group, draft.group)
                bisect.insort(self.sample, moved, key=lambda m: m.lead_id)
                del self.sample[SAMPLE_SIZE:]

    def merge(self, other: Comparison) -> None:
        self.leads += other.leads
        self.live.merge(other.live)
        self.draft.merge(other.draft)
        self.moves.update(other.moves)
        self.raised += other.raised
        self.lowered += other.lowered
        self.sample = sorted([*self.sample, *other.sample], key=lambda m: m.lead_id)[:SAMPLE_SIZE]
        for key, theirs in other.scorecards.items():
            self.scorecards.setdefault(key, Comparison()).merge(theirs)


def compare(
    live: Model,
    draft: Model,
    leads: Sequence[LeadFacts],
    interactions: Sequence[pure.InteractionFacts],
    outcomes: Mapping[int, bool],
    clock: Clock,
    scorecards: Sequence[ScorecardPair] = (),
) -> Comparison:
    """One chunk of leads scored under both models, as a comparison; each of ``scorecards``
    scored under both of its models too, into the comparison's ``scorecards``."""
    chunk = _Chunk(leads, interactions, clock, fit_reads([live, draft, *pair_models(scorecards)]))
    comparison = _compared(chunk, live, draft, outcomes)
    for pair in scorecards:
        comparison.scorecards[pair.key] = _compared(chunk, pair.live, pair.draft, outcomes)
    return comparison


def _compared(chunk: _Chunk, live: Model, draft: Model, outcomes: Mapping[int, bool]) -> Comparison:
    live_scores, draft_scores = chunk.scores(live), chunk.scores(draft)
    comparison = Comparison()
    for lead in chunk.leads:
        comparison.add(lead, live_scores[lead.id], draft_scores[lead.id], outcomes.get(lead.id))
    return comparison


# --- separation of won and lost ---------------------------------------------------------


@dataclass(frozen=True)
class Roc:
    """How well a score separates won from lost leads: the area under the ROC curve (the
    chance that a won lead scores above a lost one, ties counting half; None without
    both) and the curve's points (false positive rate, true positive rate), one per
    distinct score taken as the threshold, highest first, from (0, 0) to (1, 1)."""

    auc: float | None
    points: tuple[tuple[float, float], ...]
    won: int
    lost: int


def roc(totals: Mapping[tuple[int, bool], int]) -> Roc:
    won = sum(n for (_, w), n in totals.items() if w)
    lost = sum(n for (_, w), n in totals.items() if not w)
    if not won or not lost:
        return Roc(None, (), won, lost)
    scores = sorted({score for score, _ in totals}, reverse=True)
    points = [(0.0, 0.0)]
    area = 0.0
    tp = fp = 0
    for score in scores:
        w, lo = totals.get((score, True), 0), totals.get((score, False), 0)
        # Between the previous point and this one: a trapezoid (ties count half).
        area += lo * (tp + w / 2)
        tp, fp = tp + w, fp + lo
        points.append((fp / lost, tp / won))
    return Roc(area / (won * lost), tuple(points), won, lost)


def comparison_result(
    comparison: Comparison, live: Model, draft: Model, scorecards: Sequence[ScorecardPair] = ()
) -> dict[str, Any]:
    """A comparison as the run keeps it (JSON) and its page shows it; each of ``scorecards``
    as one too, under ``scorecards`` (with its key and name), in their order."""
    result = _side_by_side(comparison, live, draft)
    result["scorecards"] = [
        {
            "key": pair.key,
            "name": pair.name,
            **_side_by_side(comparison.scorecards.get(pair.key, Comparison()), pair.live, pair.draft),
        }
        for pair in scorecards
    ]
    return result


def _side_by_side(comparison: Comparison, live: Model, draft: Model) -> dict[str, Any]:
    names = {**live.group_names, **draft.group_names, NO_GROUP: NO_GROUP_NAME}
    order = {key: band.min_score for m in (live, draft) for band in m.bands for key in [m.group_keys[band.id]]}
    keys = sorted(
        set(comparison.live.groups) | set(comparison.draft.groups) | set(order) - {NO_GROUP},
        key=lambda k: (order.get(k, -(2**63)), k),
    )
    groups = [
        {"key": k, "name": names.get(k, k), "live": comparison.live.groups[k], "draft": comparison.draft.groups[k]}
        for k in keys
    ]
    moves = [
        {"from": a, "from_name": names.get(a, a), "to": b, "to_name": names.get(b, b), "leads": n}
        for (a, b), n in sorted(comparison.moves.items(), key=lambda item: (-item[1], item[0]))
    ]

    def conversion(side: Side) -> list[dict[str, Any]]:
        rows = []
        for k in keys:
            won, lost = side.outcomes[(k, True)], side.outcomes[(k, False)]
            rate = round(100 * won / (won + lost), 1) if won + lost else None
            rows.append({"key": k, "name": names.get(k, k), "won": won, "lost": lost, "rate": rate})
        return rows

    def separation(side: Side) -> dict[str, Any]:
        curve = roc(side.totals)
        return {
            "auc": round(curve.auc, 4) if curve.auc is not None else None,
            "won": curve.won,
            "lost": curve.lost,
            "points": [[round(x, 4), round(y, 4)] for x, y in curve.points],
        }

    rule_names = {**live.rule_names, **draft.rule_names}
    rule_keys = {**live.rule_keys, **draft.rule_keys}
    # A rule neither model has active (an earlier model's, kept for its history) scores
    # nothing in either: listing it would bury the rules that change.
    listed = {r.id for m in (live, draft) for r in m.rules if r.active}
    changed: list[dict[str, Any]] = []
    for rule_id in sorted(set(comparison.live.rule_points) | set(comparison.draft.rule_points) | set(rule_keys)):
        key = rule_keys[rule_id]
        before, after = comparison.live.rule_points[rule_id], comparison.draft.rule_points[rule_id]
        if rule_id not in listed and not before and not after:
            continue
        changed.append(
            {"key": key, "name": rule_names.get(key, key), "live": before, "draft": after, "change": after - before}
        )
    changed.sort(key=lambda r: (-abs(r["change"]), r["key"]))
    return {
        "leads": comparison.leads,
        "scores": {
            "live": comparison.live.points,
            "draft": comparison.draft.points,
            "change": comparison.draft.points - comparison.live.points,
            "raised": comparison.raised,
            "lowered": comparison.lowered,
        },
        "groups": groups,
        "moves": moves,
        "moved": sum(comparison.moves.values()),
        "sample": [
            {
                "lead_id": m.lead_id,
                "email": m.email,
                "live_total": m.live_total,
                "draft_total": m.draft_total,
                "from": names.get(m.live_group, m.live_group),
                "to": names.get(m.draft_group, m.draft_group),
            }
            for m in comparison.sample
        ],
        "conversion": {"live": conversion(comparison.live), "draft": conversion(comparison.draft)},
        "separation": {"live": separation(comparison.live), "draft": separation(comparison.draft)},
        "rules": changed,
    }


def chunks_of(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
