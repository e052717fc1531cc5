"""Secrets kept encrypted in the database (webhook secrets).

Fernet (AES with an HMAC) from the ``cryptography`` package, with a key
derived from ``SECRET_KEY`` by HKDF, so a copy of the database alone does not
reveal the secrets receivers check signatures with. Decryption also tries
the keys in ``SECRET_KEY_FALLBACKS``, so rotating SECRET_KEY the way Django
documents (new key, the old one kept as a fallback) loses no secret; a value
is encrypted with the current key again whenever it is saved.
"""

from __future__ import annotations

import base64
import logging
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression

logger = logging.getLogger(__name__)

# Binds the derived key to this use: the same SECRET_KEY yields other keys elsewhere.
_HKDF_INFO = b"leadflow routing: webhook secrets"


class SecretUnreadable(Exception):
    """A stored secret was encrypted with a key that is neither SECRET_KEY nor a fallback."""


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


@lru_cache(maxsize=4)
def _keys(secret_keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_fernet(key) for key in secret_keys])


def _current() -> MultiFernet:
    return _keys((settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS))


def encrypt(plaintext: str) -> str:
    """A token for ``plaintext``, encrypted with the current SECRET_KEY."""
    return _current().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The plaintext of a token from :func:`encrypt` under SECRET_KEY or any of its fallbacks."""
    try:
        return _current().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError):
        raise SecretUnreadable("not encrypted with SECRET_KEY or any of SECRET_KEY_FALLBACKS") from None


class EncryptedTextField(models.TextField[str, str]):
    """Text stored encrypted (:func:`encrypt`) and read back as plaintext. An empty
    value is stored empty. A value no key can decrypt reads as empty, and is logged:
    the object then lacks its secret (the admin asks for it again) instead of
    breaking every page and batch that loads it. Lookups on it find nothing useful."""

    def from_db_value(self, value: str | None, expression: Expression, connection: BaseDatabaseWrapper) -> str | None:
        if not value:
            return value
        try:
            return decrypt(value)
        except SecretUnreadable as exc:
            logger.error("%s: a stored value cannot be decrypted (%s); it reads as empty", self, exc)
            return ""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
