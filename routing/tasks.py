from celery import shared_task

from routing import services


@shared_task(name="routing.route_transitions", acks_late=True, expires=55)
def transitions_route_task() -> int:
    """Act on the group transitions scoring recorded (safe to run twice)."""
    return services.transitions_route()
