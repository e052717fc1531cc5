"""Typed readers for settings that come from the environment."""

import os


def env_str(name: str, default: str) -> str:
    """The variable's value, or ``default`` when it is unset or blank (``DATABASE_URL=``
    in a shell or a compose file means "not set", as it does for the switches below)."""
    raw = os.environ.get(name, "")
    return raw if raw.strip() else default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Published in this repository: anyone can sign click links, open pixels and
# unsubscribe tokens with it, so it is only ever used with DEBUG on.
DEVELOPMENT_SECRET_KEY = "insecure-dev-key-change-me-leadflow-first-run"  # noqa: S105 - published on purpose


def env_secret_key(name: str, *, debug: bool) -> str:
    """The secret key from ``name``; with ``debug`` off, refuse to go on without a key of the
    installation's own (unset, empty or the published development key)."""
    key = os.environ.get(name, "").strip()
    if key and key != DEVELOPMENT_SECRET_KEY:
        return key
    if debug:
        return DEVELOPMENT_SECRET_KEY
    # Imported here: this module stays importable before Django is.
    from django.core.exceptions import ImproperlyConfigured

    problem = "is not set" if not key else "is the published development key"
    raise ImproperlyConfigured(
        f"{name} {problem}, and DJANGO_DEBUG is off: Leadflow will not start, because anyone could forge "
        f"its signed links (clicks, open pixels, unsubscribes) and sessions. Set {name} to a long random "
        "value of your own and keep it secret, e.g. the output of\n"
        "    python3 -c 'import secrets; print(secrets.token_urlsafe(50))'\n"
        "(bin/run makes one for you and keeps it in the var folder, secret-key.txt)."
    )


def env_secret_key_fallbacks(name: str, *, debug: bool) -> list[str]:
    """Old secret keys from ``name`` (comma-separated); with ``debug`` off, refuse to go on
    when one is the published development key: what anyone signs with it would still be
    accepted, as if it were the key itself."""
    keys = env_list(name, [])
    if debug or DEVELOPMENT_SECRET_KEY not in keys:
        return keys
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"{name} holds the published development key, and DJANGO_DEBUG is off: Leadflow will not start, "
        "because anyone could forge its signed links (clicks, open pixels, unsubscribes) and sessions with it. "
        f"Remove it from {name}; list there only keys of your own that DJANGO_SECRET_KEY had before a rotation."
    )


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
