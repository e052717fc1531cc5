"""Scoring fixtures."""

from __future__ import annotations

import uuid

import pytest
from pytest_django.fixtures import Settings


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings: Settings) -> str:
    """Rate-limit counts of this test only: its own key prefix in the shared cache
    (Redis keeps counts for up to a day, across tests and test runs)."""
    prefix = f"rl:test-{uuid.uuid4().hex}:"
    settings.RATELIMIT_CACHE_PREFIX = prefix
    return prefix
