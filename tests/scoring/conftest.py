"""Scoring fixtures."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def fresh_rate_limits(monkeypatch: pytest.MonkeyPatch) -> str:
    """Rate-limit counts of this test only: its own key prefix in the shared cache
    (Redis keeps counts for up to a day, across tests and test runs). Set on the
    settings themselves, not through an override: an override hides SETTINGS_MODULE,
    which commands starting helper processes pass on."""
    prefix = f"rl:test-{uuid.uuid4().hex}:"
    monkeypatch.setattr(settings, "RATELIMIT_CACHE_PREFIX", prefix, raising=False)
    return prefix
