"""API keys: issue, verify, revoke; and the DRF authentication that uses them.

A key looks like ``lf_<prefix>_<secret>``. The prefix finds the row; the
whole key's SHA-256 is compared in constant time. Keys are 32 random bytes,
so a fast hash is enough (nothing to brute-force), and it keeps the
per-request cost of authentication negligible.

Each key holds scopes (:class:`intake.models.ApiScope`); each API view names
the scope each of its methods needs, and a key without it gets 403 naming it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from intake import errors
from intake.models import ApiKey, ApiScope, default_api_scopes

KEY_PREFIX = "lf_"
# What api_key_issue makes: lf_, 8 hex digits, _, 43 URL-safe characters. Checked
# before the look-up, so text the database cannot even take (NUL, surrogates) never reaches it.
KEY_FORMAT = re.compile(r"^lf_([0-9a-f]{1,16})_[A-Za-z0-9_-]{1,100}$")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    key: str  # shown once; only its hash is stored


def scopes_check(scopes: Iterable[str]) -> list[str]:
    """``scopes`` checked, without repeats, in :class:`ApiScope`'s order; or ValueError naming the valid ones."""
    wanted = set(scopes)
    valid = [str(value) for value in ApiScope.values]
    unknown = sorted(wanted - set(valid))
    if unknown:
        raise ValueError(f"scopes: unknown {', '.join(map(repr, unknown))}; the scopes are {', '.join(valid)}")
    if not wanted:
        raise ValueError(f"scopes: give at least one of {', '.join(valid)}")
    return [value for value in valid if value in wanted]


# Why a key used in web pages cannot hold more than sending events.
PUBLIC_SCOPES_REFUSED = "scopes: a key used in web pages is public there; it may only send events (events:write)"


def api_key_issue(
    *,
    name: str,
    scopes: Iterable[str] | None = None,
    public: bool = False,
    created_by: AbstractBaseUser | None = None,
) -> IssuedKey:
    """A new key for ``name``; without ``scopes``, the default: ``events:write`` only. A
    ``public`` key (used in web pages, :attr:`ApiKey.public`) holds that scope alone."""
    if not name.strip():
        raise ValueError("name: say who uses this key")
    checked = scopes_check(default_api_scopes() if scopes is None else scopes)
    if public and checked != [ApiScope.EVENTS_WRITE.value]:
        raise ValueError(PUBLIC_SCOPES_REFUSED)
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name.strip(),
        scopes=checked,
        public=public,
        prefix=prefix,
        key_hash=_hash(key),
        created_by_id=created_by.pk if created_by is not None else None,
    )
    return IssuedKey(api_key, key)


def api_key_has_scope(api_key: ApiKey, scope: ApiScope) -> bool:
    return isinstance(api_key.scopes, list) and scope.value in api_key.scopes


def api_key_revoke(*, api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        api_key.refresh_from_db()


class InvalidKey(Exception):
    """A key refused; ``code`` is the stable code the API answers with (intake.errors)."""

    def __init__(self, message: str, code: str = "invalid_key") -> None:
        super().__init__(message)
        self.code = code


def api_key_verify(key: str) -> ApiKey:
    """The active key ``key`` is, or :class:`InvalidKey` saying why not."""
    body = key.strip()
    matched = KEY_FORMAT.match(body)
    if matched is None:
        raise InvalidKey("The API key is not valid.")
    api_key = ApiKey.objects.filter(prefix=matched.group(1)).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(body)):
        raise InvalidKey("The API key is not valid.")
    if api_key.revoked_at is not None:
        raise InvalidKey("The API key was revoked.", code="revoked_key")
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
            raise exceptions.AuthenticationFailed(
                "The Authorization header has no key after Bearer.", code="invalid_key"
            )
        return self.credentials(key)

    @staticmethod
    def credentials(key: str) -> tuple[ApiKeyUser, ApiKey]:
        try:
            api_key = api_key_verify(key)
        except InvalidKey as exc:
            raise exceptions.AuthenticationFailed(str(exc), code=exc.code) from None
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="leadflow"'


def request_api_key(request: Any) -> ApiKey:
    """The key of an authenticated API request."""
    api_key = getattr(request, "auth", None)
    if not isinstance(api_key, ApiKey):
        raise exceptions.NotAuthenticated()
    return api_key


def required_scope(view: Any, method: str) -> ApiScope | None:
    """The scope ``view`` names for ``method`` (HEAD is GET); None when it names none."""
    scopes: Mapping[str, ApiScope] = getattr(view, "required_scopes", {})
    return scopes.get("GET" if method.upper() == "HEAD" else method.upper())


class KeyHasScope(permissions.BasePermission):
    """The key holds the scope the view requires for this method. A method the view
    names no scope for is refused (OPTIONS, which only describes, excepted)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method == "OPTIONS":
            return True
        if isinstance(request.auth, ApiKey) and request.auth.public:
            raise exceptions.PermissionDenied(
                "This key is used in web pages: it sends events through the Segment and RudderStack endpoints only.",
                code=errors.PUBLIC_KEY,
            )
        scope = required_scope(view, request.method or "")
        if scope is None:
            raise exceptions.PermissionDenied(f"No API key scope allows {request.method} here.", code="no_scope")
        api_key = request.auth
        if isinstance(api_key, ApiKey) and api_key_has_scope(api_key, scope):
            return True
        raise exceptions.PermissionDenied(
            {"detail": f"This API key lacks the scope {scope.value}.", "required_scope": scope.value},
            code="missing_scope",
        )


class BearerKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "intake.api_keys.BearerKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        scopes = "; ".join(f"{scope.value}: {scope.english_label}" for scope in ApiScope)
        return {
            "type": "http",
            "scheme": "bearer",
            "description": f"An API key: Authorization: Bearer lf_…. Each key holds scopes ({scopes}).",
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        scope = required_scope(auto_schema.view, auto_schema.method)
        return {self.name: [scope.value] if scope is not None else []}
