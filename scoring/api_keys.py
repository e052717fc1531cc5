"""API keys: issue, verify, revoke; and the DRF authentication that uses them.

A key looks like ``lf_<prefix>_<secret>``. The prefix finds the row; the
whole key's SHA-256 is compared in constant time. Keys are 32 random bytes,
so a fast hash is enough (nothing to brute-force), and it keeps the
per-request cost of authentication negligible.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from scoring.models import ApiKey

KEY_PREFIX = "lf_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    key: str  # shown once; only its hash is stored


def api_key_issue(*, name: str, created_by: AbstractBaseUser | None = None) -> IssuedKey:
    if not name.strip():
        raise ValueError("name: say who uses this key")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name.strip(),
        prefix=prefix,
        key_hash=_hash(key),
        created_by_id=created_by.pk if created_by is not None else None,
    )
    return IssuedKey(api_key, key)


def api_key_revoke(*, api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        api_key.refresh_from_db()


class InvalidKey(Exception):
    pass


def api_key_verify(key: str) -> ApiKey:
    """The active key ``key`` is, or :class:`InvalidKey` saying why not."""
    body = key.strip()
    if not body.startswith(KEY_PREFIX) or body.count("_") < 2:
        raise InvalidKey("The API key is not valid.")
    prefix = body[len(KEY_PREFIX) :].split("_", 1)[0]
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(body)):
        raise InvalidKey("The API key is not valid.")
    if api_key.revoked_at is not None:
        raise InvalidKey("The API key was revoked.")
    now = timezone.now()
    # Record use at most once a minute: one write, not one per request.
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


class ApiKeyUser(AnonymousUser):
    """The caller of the API: a system holding a key, not a person."""

    def __init__(self, api_key: ApiKey) -> None:
        super().__init__()
        self.api_key = api_key

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    def __str__(self) -> str:
        return f"API key {self.api_key}"


class BearerKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer lf_…``."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        if not key.strip():
            raise exceptions.AuthenticationFailed("The Authorization header has no key after Bearer.")
        return self.credentials(key)

    @staticmethod
    def credentials(key: str) -> tuple[ApiKeyUser, ApiKey]:
        try:
            api_key = api_key_verify(key)
        except InvalidKey as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="leadflow"'


def request_api_key(request: Any) -> ApiKey:
    """The key of an authenticated API request."""
    api_key = getattr(request, "auth", None)
    if not isinstance(api_key, ApiKey):
        raise exceptions.NotAuthenticated()
    return api_key


class BearerKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "scoring.api_keys.BearerKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API key: Authorization: Bearer lf_…"}
