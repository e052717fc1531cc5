"""Rate limits of the public endpoints, per client address and per lead or visitor
(``settings.LEADFLOW_RATE_LIMITS``), counted by django-ratelimit in the default cache:
Redis in production, so every web process shares the counts."""

from __future__ import annotations

import ipaddress
import logging
from typing import TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import _split_rate, get_usage  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str:
    """The address rate limits count by: the connection's own, or, behind
    ``LEADFLOW_TRUSTED_PROXY_COUNT`` reverse proxies, the one the outermost of them
    saw (it appended it to X-Forwarded-For; entries further left are the client's
    word and could be anything). An IPv4 client a dual-stack socket shows as
    ``::ffff:198.51.100.7`` is that IPv4 address: as IPv6, every IPv4 client shares the /64
    :func:`client_network` counts."""
    remote = request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 - an address to count by, not to bind
    hops = settings.LEADFLOW_TRUSTED_PROXY_COUNT
    if hops > 0:
        chain = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        if len(chain) >= hops:
            try:
                return _unmapped(ipaddress.ip_address(chain[-hops]))
            except ValueError:
                pass  # a malformed header counts as the proxy's own address
    try:
        return _unmapped(ipaddress.ip_address(remote))
    except ValueError:
        return remote


def _unmapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """``address``, an IPv4-mapped IPv6 address as the IPv4 address it carries."""
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return str(mapped or address)


def client_network(request: HttpRequest) -> str:
    """What per-address limits count: the client's address, or for IPv6 its /64, which
    one subscriber usually holds whole and could otherwise walk through."""
    address = client_ip(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False).network_address)
    return str(parsed)


def rate_limited(request: HttpRequest, *, endpoint: str, kind: str, value: str, count: bool = True) -> int | None:
    """Count this request against ``endpoint``'s limits of ``kind`` ("ip", "lead",
    "visitor") for ``value`` (or, not ``count``ing it, only look). Returns the seconds
    until it may go on when over a limit, else None.

    Counted with django-ratelimit in the default cache (fixed windows; the
    value is hashed into the key, so no address or email is kept there).
    """
    for rate in settings.LEADFLOW_RATE_LIMITS[endpoint][kind]:
        try:
            usage = get_usage(
                request,
                group=f"leadflow.tracking.{endpoint}.{kind}",
                key=lambda _group, _request: value,
                rate=rate,
                increment=count,
            )
        except Exception:  # an unreachable cache must not lose the data: logged, not limited
            logger.warning("rate limit %s/%s not checked: the cache failed", endpoint, kind, exc_info=True)
            return None
        # Only looking, the limit is reached once as many as it allows were counted.
        if usage is not None and (usage["should_limit"] or (not count and usage["count"] >= usage["limit"])):
            return max(int(usage["time_left"]), 1)
    return None


def rate_room(request: HttpRequest, *, endpoint: str, kind: str, value: str, wanted: int) -> int:
    """Count up to ``wanted`` requests against ``endpoint``'s limits of ``kind`` for
    ``value``, one by one while under them (as :func:`rate_limited`): how many it counted,
    those the limits let through (``wanted`` when the cache fails, as a request goes on
    then)."""
    for counted in range(wanted):
        if rate_limited(request, endpoint=endpoint, kind=kind, value=value) is not None:
            return counted
    return wanted


def lead_counted_as(email: str | None, external_id: str | None) -> str:
    """What the per-lead limits of what pages bring a lead (``browser``) count a lead named
    so as: its email, else its external id."""
    return email.lower() if email else f"id:{external_id}"


def longest_window(*, endpoint: str, kind: str) -> int:
    """The seconds of the longest window ``endpoint``'s limits of ``kind`` count in (0: none)."""
    return max((_split_rate(rate)[1] for rate in settings.LEADFLOW_RATE_LIMITS[endpoint][kind]), default=0)


_Response = TypeVar("_Response", bound=HttpResponse)


def too_many(response: _Response, retry_after: int) -> _Response:
    """``response`` as a 429 saying when to send again (``Retry-After``)."""
    response.status_code = 429
    response["Retry-After"] = str(retry_after)
    return response
