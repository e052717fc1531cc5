from celery import shared_task

from nurture import services


# expires: sends queued while workers were down run once, not once per minute missed.
# acks_late: a worker lost mid-run leaves the message for another worker; the
# claim lease and the pending delivery rows make the re-run send nothing twice.
@shared_task(name="nurture.send_due", acks_late=True, expires=55)
def deliveries_send_due_task() -> int:
    """Send every due nurture step (batch after batch), then tally opens and clicks."""
    summary = services.deliveries_send_all_due()
    services.deliveries_tally_engagement()
    return summary.sent
