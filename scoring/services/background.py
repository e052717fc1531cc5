"""Handing work to the Celery workers, and going on when the broker cannot be
reached: the work is in the database, and a periodic task picks it up.

Services name the task they hand work to; they never import tasks (the tasks import
the services), so the two never depend on each other both ways.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app

logger = logging.getLogger(__name__)


def enqueue(task_name: str, *args: Any, fallback: str) -> bool:
    """Send the task registered as ``task_name`` to the workers, with the options it is
    declared with (its expiry…): every app imports its tasks in ``ready()``, so each
    process knows them. If the broker cannot be reached, or no such task is known, log
    what ``fallback`` will do instead (the work is in the database) and go on."""
    try:
        current_app.tasks[task_name].apply_async(args=args)
    except Exception:
        logger.warning("could not enqueue %s; %s", task_name, fallback, exc_info=True)
        return False
    return True
