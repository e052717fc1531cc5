"""Every test counts rate limits under a prefix of its own: the shared cache (Redis) keeps
counts for up to a day, across tests and test runs, so a test that posts to the public
endpoints (the browser tests' pixel and click too) would otherwise find another's counts."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from nurture import links
from tests.factories import LeadFactory

seen: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_has_a_rate_limit_prefix_of_its_own(run: int) -> None:
    prefix = getattr(settings, "RATELIMIT_CACHE_PREFIX", "rl:")  # django-ratelimit's own default
    assert re.fullmatch(r"rl:test-[0-9a-f]{32}:", prefix)
    assert prefix not in seen
    seen.append(prefix)


@pytest.mark.django_db
def test_the_pixel_and_the_click_count_under_the_tests_prefix(redis_broker: str, fresh_rate_limits: str) -> None:
    import redis

    lead = LeadFactory.create()
    web = Client(HTTP_HOST="localhost")
    assert web.get(links.open_url(lead_id=lead.pk, campaign="c")).status_code == 200
    assert web.get(links.click_url(lead_id=lead.pk, url="https://toys.example/", campaign="c")).status_code == 302

    client = redis.Redis.from_url(str(settings.CACHES["default"]["LOCATION"]))
    counted = set(client.keys(f"leadflow:1:{fresh_rate_limits}*"))
    windows = sum(
        len(rates) for endpoint in ("open", "click") for rates in settings.LEADFLOW_RATE_LIMITS[endpoint].values()
    )
    assert len(counted) == windows, "each window per address and per lead, of the open and of the click"
