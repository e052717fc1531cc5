"""Scoring's tables, by topic: the model marketers design (:mod:`~scoring.models.design`),
the event types seen and declared (:mod:`~scoring.models.events`), leads and what they
do (:mod:`~scoring.models.leads`), the ledger and what happens over time
(:mod:`~scoring.models.ledger`), and the lists kept beside them
(:mod:`~scoring.models.records`), the model's versions
(:mod:`~scoring.models.versions`) and predictive scoring
(:mod:`~scoring.models.predictive`). Every name is kept here."""

from scoring.models.accounts import (
    AccountEntry,
    AccountGroup,
    AccountRule,
    AccountRuleCondition,
    AccountSettings,
    AccountTransition,
    StaleAccount,
)
from scoring.models.design import (
    DEFAULT_SCORECARD_KEY,
    Campaign,
    DecayPolicy,
    ModelInfo,
    RuleCondition,
    Scorecard,
    ScoreGroup,
    ScoreWatch,
    ScoringRule,
)
from scoring.models.events import EventType, SegmentEvent
from scoring.models.leads import (
    Account,
    AttributeName,
    Interaction,
    InteractionKey,
    InteractionRollup,
    Lead,
    LeadScore,
    LifecycleStage,
    PendingFit,
    Visitor,
    WaitingInteraction,
    validate_time_zone,
)
from scoring.models.ledger import (
    AwardRollup,
    DecayRun,
    GroupTransition,
    RescoreJob,
    RescoreLane,
    ScorecardEntry,
    ScoreEntry,
    StageChange,
)
from scoring.models.predictive import LeadPrediction, PredictiveSettings, TrainedModel
from scoring.models.records import FreeMailDomain, SetAside, SuppressedAddress
from scoring.models.versions import DraftDecayPolicy, DraftScoreGroup, DraftScoringRule, ModelVersion, ReplayRun

__all__ = [
    "DEFAULT_SCORECARD_KEY",
    "Account",
    "AccountEntry",
    "AccountGroup",
    "AccountRule",
    "AccountRuleCondition",
    "AccountSettings",
    "AccountTransition",
    "AttributeName",
    "AwardRollup",
    "Campaign",
    "DecayPolicy",
    "DecayRun",
    "DraftDecayPolicy",
    "DraftScoreGroup",
    "DraftScoringRule",
    "EventType",
    "FreeMailDomain",
    "GroupTransition",
    "Interaction",
    "InteractionKey",
    "InteractionRollup",
    "Lead",
    "LeadPrediction",
    "LeadScore",
    "LifecycleStage",
    "ModelInfo",
    "ModelVersion",
    "PendingFit",
    "PredictiveSettings",
    "ReplayRun",
    "RescoreJob",
    "RescoreLane",
    "RuleCondition",
    "ScoreEntry",
    "ScoreGroup",
    "ScoreWatch",
    "Scorecard",
    "ScorecardEntry",
    "ScoringRule",
    "SegmentEvent",
    "SetAside",
    "StageChange",
    "StaleAccount",
    "SuppressedAddress",
    "TrainedModel",
    "Visitor",
    "WaitingInteraction",
    "validate_time_zone",
]
