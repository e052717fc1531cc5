"""Where webhooks may call, and for how long.

A webhook URL is typed by a marketer or comes from a model file, and the
worker that calls it sits inside the company's network, next to Redis,
PostgreSQL and the admin. So a URL may only point at public addresses:
never loopback, private, link-local (cloud metadata at 169.254.169.254),
multicast, unspecified or reserved ones, IPv4 or IPv6, IPv4 written in
decimal, hex or octal, or hidden in an IPv6 address. Networks listed in
``LEADFLOW_WEBHOOK_ALLOWED_NETWORKS`` are allowed all the same (an
on-premise CRM).

The check runs three times: when a URL is saved (admin, model file;
:func:`validate_webhook_url`, without DNS, so saving never waits on a name
server), before each call (:func:`url_problem`), and while connecting
(:class:`GuardedBackend`): the host name is resolved once, every address is
checked, and the connection goes to a checked address, so a name that
answers a public address to the check and a private one to the connection
(DNS rebinding) gains nothing. TLS still verifies the certificate against
the host name.

The same backend holds each call to a total deadline (:func:`deadline`):
every wait (name lookup, connect, TLS handshake, each read and write) is cut
to the time left, since per-read timeouts alone let a receiver that drips a
byte a second keep a call open for ever.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_noop

from scoring import sentences
from scoring.said import Said, said

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "LEADFLOW_WEBHOOK_ALLOWED_NETWORKS"
SCHEMES = ("http", "https")
# Host names that are this machine whatever DNS says (RFC 6761).
_LOOPBACK_NAMES = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
# What inet_aton (and so the resolver) reads as an IPv4 address: 2130706433, 0x7f.1, 0177.0.0.1…
_IPV4_LIKE = re.compile(r"[0-9a-fx.]+")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(Exception):
    """The call would go to an address webhooks may not reach; the message says which and why."""

    def __init__(self, problem: Said) -> None:
        super().__init__(problem.english())
        self.said = problem


class DeadlineExceeded(httpcore.TimeoutException):
    """The call's total deadline passed before it ended."""


# --- which addresses ----------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(value) for value in values)


def allowed_networks() -> tuple[IPNetwork, ...]:
    return _networks(tuple(getattr(settings, SETTING, ())))


def _kind(address: IPAddress) -> Said | None:
    """What makes an address one webhooks may not call, or None for a public one."""
    if address.is_unspecified:
        return said(gettext_noop("the unspecified address"))
    if address.is_loopback:
        return said(gettext_noop("a loopback address"))
    if address.is_link_local:
        return said(gettext_noop("a link-local address"))
    if address.is_multicast:
        return said(gettext_noop("a multicast address"))
    if address.is_reserved:
        return said(gettext_noop("a reserved address"))
    if address.is_private:
        return said(gettext_noop("a private address"))
    if not address.is_global:
        return said(gettext_noop("not a public address"))
    return None


def _embedded(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64): a packet to it may reach them."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def _why(address: IPAddress) -> Said | None:
    """Why webhooks may not call ``address`` ("is a loopback address"…), or None when they may."""
    embedded = _embedded(address)
    networks = allowed_networks()
    if any(a in network for a in (address, *embedded) for network in networks if a.version == network.version):
        return None
    for inner in embedded:
        kind = _kind(inner)
        if kind:
            return said(gettext_noop("carries {inner}, {kind}"), inner=str(inner), kind=kind)
    kind = _kind(address)
    return said(gettext_noop("is {kind}"), kind=kind) if kind else None


def _same(host: str, address: IPAddress) -> bool:
    try:
        return not host or ipaddress.ip_address(host) == address
    except ValueError:
        return False


# How a host name leads to an address: through DNS, or written in another form.
RESOLVES_TO = gettext_noop("{host} resolves to {address}, which {why}")
STANDS_FOR = gettext_noop("{host} stands for {address}, which {why}")


def address_problem(address: IPAddress, *, host: str = "", how: str = RESOLVES_TO) -> Said | None:
    """Why webhooks may not call ``address`` (that ``host``, if given, leads to ``how``), or None."""
    why = _why(address)
    if why is None:
        return None
    if _same(host, address):
        which = said(gettext_noop("{host} {why}"), host=host or str(address), why=why)
    else:
        which = said(how, host=host, address=str(address), why=why)
    return said(
        gettext_noop("{which}: webhooks may not call it unless {setting} allows its network"),
        which=which,
        setting=SETTING,
    )


def _literal_addresses(host: str) -> list[IPAddress]:
    """The addresses ``host`` means without asking DNS: an IP address in any form the
    resolver reads, or this machine for ``localhost``; [] for any other name."""
    host = host.lower().rstrip(".")
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if _IPV4_LIKE.fullmatch(host):
        try:
            return [ipaddress.IPv4Address(socket.inet_aton(host))]
        except OSError:
            pass
    if host == "localhost" or host.endswith(".localhost"):
        return list(_LOOPBACK_NAMES)
    return []


def url_problem(url: str) -> Said | None:
    """Why webhooks may not call ``url``, judged from the URL alone (no DNS), or None."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return said(gettext_noop("not a valid URL ({error})"), error=str(exc))
    if not parsed.scheme:
        return said(gettext_noop("only http and https URLs can be called, not one without a scheme"))
    if parsed.scheme not in SCHEMES:
        return said(gettext_noop("only http and https URLs can be called, not {scheme}"), scheme=parsed.scheme)
    host = parsed.host
    if not host:
        return said(gettext_noop("the URL names no host"))
    for address in _literal_addresses(host):
        problem = address_problem(address, host=host, how=STANDS_FOR)
        if problem:
            return problem
    return None


def validate_webhook_url(value: str) -> None:
    """Model field validator: refuse a URL that points where webhooks may not call, saying
    why in the reader's language (a sentence that may begin with a host name, never capitalized)."""
    if not value:
        return
    problem = url_problem(value)
    if problem:
        raise ValidationError(
            gettext("Webhooks cannot call this URL: {problem}.").format(problem=sentences.translated(problem)),
            code="webhook_url",
        )


# --- the total deadline --------------------------------------------------------------

_deadline: ContextVar[float | None] = ContextVar("webhook_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Calls made through a :class:`GuardedBackend` in this block end within ``seconds`` in all."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _time_left(timeout: float | None) -> float | None:
    """``timeout`` cut to what is left of the deadline; raises if nothing is."""
    end = _deadline.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


def _past_deadline() -> bool:
    end = _deadline.get()
    return end is not None and time.monotonic() >= end


@contextmanager
def _deadline_named() -> Iterator[None]:
    """A timeout that happened because the deadline passed says so."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        if _past_deadline() and not isinstance(exc, DeadlineExceeded):
            raise DeadlineExceeded("the call's deadline passed") from exc
        raise


# --- the network backend --------------------------------------------------------------

# Name lookups run here so that a slow name server cannot outlast the deadline
# (getaddrinfo itself takes no timeout). A lookup given up on ends by itself.
_lookups = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


def _lookups_anew() -> None:
    # A forked child (a Celery pool process) has none of its parent's threads: a pool
    # that thinks it has them would never run a lookup.
    global _lookups
    _lookups = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


os.register_at_fork(after_in_child=_lookups_anew)


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the resolver's order."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _resolve_in_time(host: str, port: int) -> list[IPAddress]:
    try:
        return _lookups.submit(resolve, host, port).result(timeout=_time_left(None))
    except FutureTimeout:
        raise DeadlineExceeded(f"the call's deadline passed while looking up {host}") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc


class _GuardedStream(httpcore.NetworkStream):
    """A connection whose every wait is cut to what is left of the deadline."""

    # Writes go out in pieces so a receiver reading slowly meets the deadline between them.
    WRITE_PIECE = 16 * 1024

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _deadline_named():
            return self._inner.read(max_bytes, _time_left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), self.WRITE_PIECE):
            with _deadline_named():
                self._inner.write(buffer[start : start + self.WRITE_PIECE], _time_left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # The handshake checks the certificate against server_hostname: the name, not the address.
        with _deadline_named():
            return _GuardedStream(self._inner.start_tls(ssl_context, server_hostname, _time_left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend for webhooks: resolve once, check every address,
    connect to a checked one, and keep to the deadline."""

    def __init__(self) -> None:
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve_in_time(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")  # an error from outside
        for address in addresses:
            problem = address_problem(address, host=host)
            if problem:
                # One bad address refuses the name: the resolver may hand out either.
                raise EgressRefused(problem)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                with _deadline_named():
                    # An address literal: the socket connects to exactly what was checked.
                    stream = self._sockets.connect_tcp(
                        str(address), port, _time_left(timeout), local_address, list(socket_options or [])
                    )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address may answer
                continue
            return _GuardedStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise EgressRefused(said(gettext_noop("webhooks call TCP addresses only")))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport (request and response handling, error mapping) on a
    connection pool whose connections go through :class:`GuardedBackend`. No proxy:
    a proxy would connect on our behalf to addresses never checked."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        # Not httpx's __init__: it builds its pool on the default backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(),
            http1=True,
            http2=False,
            retries=0,
        )
