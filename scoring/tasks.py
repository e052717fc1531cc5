from celery import shared_task

from scoring import services
from scoring.services import predictive


# expires: a backlog of sweeps queued while workers were down runs once, not N times.
@shared_task(name="scoring.score_pending", acks_late=True, expires=120)
def interactions_score_pending_task() -> int:
    """Score every unscored interaction; many workers may run it at once."""
    return services.interactions_score_pending()


@shared_task(name="scoring.decay_nightly", acks_late=True)
def leads_decay_task() -> int:
    """The nightly decay (idempotent per day: a second run the same day moves nothing)."""
    return services.leads_decay().leads


@shared_task(name="scoring.rescore_job", acks_late=True)
def rescore_job_task(job_id: int) -> int:
    """Run or resume a rescore job (progress is kept chunk by chunk)."""
    return services.rescore_job_run(job_id=job_id).done


@shared_task(name="scoring.replay_run", acks_late=True)
def replay_run_task(run_id: int) -> str:
    """Run a replay of a model version (a second run of a finished one changes nothing)."""
    return services.replay_run(run_id=run_id).status


@shared_task(name="scoring.predictive_retrain", acks_late=True, expires=3000)
def predictive_retrain_task() -> int | None:
    """Retrain the predictive model when enough new outcomes exist (else nothing)."""
    version = predictive.retrain_if_due()
    return version.number if version else None


@shared_task(name="scoring.predictive_refresh", acks_late=True, expires=280)
def predictive_refresh_task() -> int:
    """Refresh the probabilities of leads whose scores or fields changed."""
    return predictive.predictions_refresh_changed()


@shared_task(name="scoring.accounts_rescore_nightly", acks_late=True, expires=6 * 3600)
def accounts_rescore_task() -> int:
    """Recompute every account's roll-up (a second run writes nothing)."""
    return services.accounts_rescore()


@shared_task(name="scoring.accounts_assign_all", acks_late=True, expires=6 * 3600)
def accounts_assign_all_task() -> int:
    """Put every lead in its account again after the free-mail list changed (a second run
    moves nothing)."""
    return services.leads_accounts_assign_all().leads


@shared_task(name="scoring.history_maintain", acks_late=True, expires=6 * 3600)
def history_maintain_task() -> str:
    """Make the months ahead of the partitioned tables, then apply retention (a second
    run does nothing)."""
    result = services.history_maintain()
    text = f"horizon {result.horizon}, {result.interactions} interactions, {result.entries} ledger rows compacted"
    if result.orphans:
        text += f", {result.orphans} interactions of leads gone dropped uncounted"
    if result.unscored:
        text += f", {result.unscored} interactions dropped still waiting to be scored"
    return text
