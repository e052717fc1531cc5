from celery import shared_task

from routing import services, sla, webhooks


@shared_task(name="routing.route_transitions", acks_late=True, expires=55)
def transitions_route_task() -> int:
    """Act on the lead events scoring and sales recorded (safe to run twice)."""
    return services.transitions_route()


@shared_task(name="routing.send_notifications", acks_late=True, expires=55)
def notifications_send_task() -> int:
    return services.notifications_send()


@shared_task(name="routing.deliver_webhooks", acks_late=True, expires=55)
def webhooks_deliver_task() -> int:
    return webhooks.webhooks_deliver_due().delivered


@shared_task(name="routing.escalate_sla", acks_late=True, expires=280)
def sla_escalate_task() -> int:
    """Escalate leads left unclaimed past their team's SLA (each once)."""
    return sla.items_escalate_overdue()
