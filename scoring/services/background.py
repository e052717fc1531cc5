"""Handing work to the Celery workers, and going on when the broker cannot be
reached: the work is in the database, and a periodic task picks it up."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

logger = logging.getLogger(__name__)


def enqueue(task: Task[Any, Any], *args: Any, fallback: str) -> bool:
    """Send ``task`` to the workers (with its own options, e.g. expiry); if the
    broker cannot be reached, log what ``fallback`` will do instead (the work
    is in the database) and go on."""
    try:
        task.apply_async(args=args)
    except Exception:
        logger.warning("could not enqueue %s; %s", task.name, fallback, exc_info=True)
        return False
    return True
