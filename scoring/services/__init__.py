"""Everything that writes scores. Callers hold no locks; each function takes its own.

Split by topic: :mod:`~scoring.services.ledger` (ledger rows, cached scores, the
outbox routing reads, lead locks), :mod:`~scoring.services.leads` (a lead's fields
and fit, changes by hand), :mod:`~scoring.services.fields` (lead fields other apps
change, many leads at once), :mod:`~scoring.services.engagement` (recording and scoring
interactions), :mod:`~scoring.services.rescore`, :mod:`~scoring.services.replay` (a version replayed
beside the live model, writing no score), :mod:`~scoring.services.decay`,
:mod:`~scoring.services.model` (the model file, regrouping),
:mod:`~scoring.services.event_types` (types counted as they come, declared by the file) and
:mod:`~scoring.services.background` (handing work to the workers),
:mod:`~scoring.services.accounts` (which account a lead belongs to, its roll-up and fit),
:mod:`~scoring.services.account_groups` (accounts' groups and transitions). The names other
apps use are kept here.
"""

from scoring.services.account_groups import account_groups_changed, accounts_regroup
from scoring.services.accounts import (
    Assigned,
    account_rule_create,
    account_rules_changed,
    account_save,
    account_settings_get,
    account_settings_set,
    accounts_refresh,
    accounts_refresh_pending,
    accounts_rescore,
    accounts_rescore_fit,
    free_mail_domains_changed,
    leads_accounts_assign,
    leads_accounts_assign_all,
)
from scoring.services.background import enqueue
from scoring.services.decay import SET_ASIDE_DECAY, DecaySummary, decay_policy_set, leads_decay
from scoring.services.engagement import (
    SET_ASIDE_FIT,
    SET_ASIDE_INTERACTION,
    RecordedInteraction,
    interaction_record,
    interactions_score_pending,
    interactions_wait,
    leads_rescore_fit_pending,
    scoring_enqueue,
)
from scoring.services.event_types import event_types_declare, event_types_export, event_types_seen
from scoring.services.fields import (
    lead_unsubscribe,
    leads_assignment_set,
    leads_by_email,
    leads_create,
    leads_merge,
    leads_stage_set,
    leads_tag,
)
from scoring.services.leads import (
    LEAD_EDITABLE_FIELDS,
    LeadConflict,
    lead_adjust_score,
    lead_save,
    lead_upsert,
    leads_engagement_reset,
    leads_rescore_fit,
    leads_rescore_fit_all,
)
from scoring.services.ledger import (
    LEAD_STATE_FIELDS,
    LEDGER_FIELDS,
    Crossing,
    LeadState,
    LedgerRow,
    lead_events_processed,
    lead_events_record,
    leads_hold,
    leads_lock,
    score_watches_set,
)
from scoring.services.model import (
    ModelImportSummary,
    leads_regroup,
    model_info_set,
    model_rules_warnings,
    scoring_model_export,
    scoring_model_import,
)
from scoring.services.replay import replay_cancel, replay_check, replay_run, replay_start
from scoring.services.rescore import (
    RESCORE_LANE_MIN,
    RESCORE_LANES,
    SET_ASIDE_RESCORE,
    leads_rescore,
    regroup_job_start,
    rescore_job_run,
    rescore_job_start,
    score_groups_delete,
)
from scoring.services.retention import (
    RetentionResult,
    history_horizon,
    history_maintain,
    partitions_ahead,
    retention_apply,
)

__all__ = [
    "LEAD_EDITABLE_FIELDS",
    "LEAD_STATE_FIELDS",
    "LEDGER_FIELDS",
    "RESCORE_LANES",
    "RESCORE_LANE_MIN",
    "SET_ASIDE_DECAY",
    "SET_ASIDE_FIT",
    "SET_ASIDE_INTERACTION",
    "SET_ASIDE_RESCORE",
    "Assigned",
    "Crossing",
    "DecaySummary",
    "LeadConflict",
    "LeadState",
    "LedgerRow",
    "ModelImportSummary",
    "RecordedInteraction",
    "RetentionResult",
    "account_groups_changed",
    "account_rule_create",
    "account_rules_changed",
    "account_save",
    "account_settings_get",
    "account_settings_set",
    "accounts_refresh",
    "accounts_refresh_pending",
    "accounts_regroup",
    "accounts_rescore",
    "accounts_rescore_fit",
    "decay_policy_set",
    "enqueue",
    "event_types_declare",
    "event_types_export",
    "event_types_seen",
    "free_mail_domains_changed",
    "history_horizon",
    "history_maintain",
    "interaction_record",
    "interactions_score_pending",
    "interactions_wait",
    "lead_adjust_score",
    "lead_events_processed",
    "lead_events_record",
    "lead_save",
    "lead_unsubscribe",
    "lead_upsert",
    "leads_accounts_assign",
    "leads_accounts_assign_all",
    "leads_assignment_set",
    "leads_by_email",
    "leads_create",
    "leads_decay",
    "leads_engagement_reset",
    "leads_hold",
    "leads_lock",
    "leads_merge",
    "leads_regroup",
    "leads_rescore",
    "leads_rescore_fit",
    "leads_rescore_fit_all",
    "leads_rescore_fit_pending",
    "leads_stage_set",
    "leads_tag",
    "model_info_set",
    "model_rules_warnings",
    "partitions_ahead",
    "regroup_job_start",
    "replay_cancel",
    "replay_check",
    "replay_run",
    "replay_start",
    "rescore_job_run",
    "rescore_job_start",
    "retention_apply",
    "score_groups_delete",
    "score_watches_set",
    "scoring_enqueue",
    "scoring_model_export",
    "scoring_model_import",
]
