from celery import shared_task

from reports import origins, snapshots


# expires: a backlog of nightly runs queued while workers were down runs once, not N times.
@shared_task(name="reports.snapshot_nightly", acks_late=True, expires=6 * 3600)
def group_counts_nightly_task() -> int:
    """Count yesterday's leads per score group (and days missed before it); safe to run twice."""
    return snapshots.group_counts_nightly()


@shared_task(name="reports.origins_nightly", acks_late=True, expires=6 * 3600)
def origins_nightly_task() -> int:
    """Rebuild every lead's origin for the campaigns report; safe to run twice (writes only what differs)."""
    return origins.origins_rebuild()
