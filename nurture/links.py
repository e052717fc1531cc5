"""The signed links in nurture email: the open pixel and each click link, made for one
email to one lead. Nurture makes them here; intake's ``/t/o/…`` and ``/t/c/…`` read them
back with :func:`link_read` and record the open or click.

A token is signed with the site's secret (``django.core.signing``, one salt per
purpose): a tampered one, or one made for the other purpose, reads as nothing, and a
click token holds the only URL its click may redirect to (no open redirect). The salts
are part of every link already sent: changing one breaks them all.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core import signing
from django.urls import reverse

OPEN_SALT = "leadflow.tracking.open"
CLICK_SALT = "leadflow.tracking.click"
MAX_URL = 2000


def web_url(url: object) -> str:
    if not isinstance(url, str):
        raise ValueError("only text URLs can be tracked")
    refusal = f"only http(s) URLs of at most {MAX_URL} characters can be tracked, not {url[:80]!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (read to check it: "http://example.com:abc/" raises)
    except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 address), a port not a number
        raise ValueError(refusal) from None
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or any(c.isspace() for c in parts.netloc)
        # Anywhere in the text: urlsplit drops tabs and line breaks before it splits.
        or any(ord(c) < 32 or ord(c) == 127 for c in url)
        or len(url) > MAX_URL
    ):
        raise ValueError(refusal)
    return url


def email_open_token(*, lead_id: int, campaign: str, properties: dict[str, Any] | None = None) -> str:
    return signing.dumps({"l": lead_id, "c": campaign, "p": properties or {}}, salt=OPEN_SALT, compress=True)


def email_click_token(*, lead_id: int, url: str, campaign: str, properties: dict[str, Any] | None = None) -> str:
    payload = {"l": lead_id, "u": web_url(url), "c": campaign, "p": properties or {}}
    return signing.dumps(payload, salt=CLICK_SALT, compress=True)


def open_url(*, lead_id: int, campaign: str, properties: dict[str, Any] | None = None) -> str:
    """The open pixel's path for one email to one lead."""
    token = email_open_token(lead_id=lead_id, campaign=campaign, properties=properties)
    return reverse("tracking:open", args=[token])


def click_url(*, lead_id: int, url: str, campaign: str, properties: dict[str, Any] | None = None) -> str:
    """The tracked path of a link in one email to one lead; it redirects to ``url``."""
    token = email_click_token(lead_id=lead_id, url=url, campaign=campaign, properties=properties)
    return reverse("tracking:click", args=[token])


def link_read(token: str, *, salt: str) -> dict[str, Any] | None:
    """What an open (``OPEN_SALT``) or click (``CLICK_SALT``) token says: ``{"l": lead id,
    "c": campaign, "p": properties}`` and for a click ``"u"``, its URL. None when it is
    tampered, made for the other purpose, or of a shape Leadflow never signs."""
    try:
        payload = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    if (
        not isinstance(payload, dict)
        or type(payload.get("l")) is not int
        or not isinstance(payload.get("c"), str)
        or not isinstance(payload.get("p"), dict)
    ):
        return None
    if salt == CLICK_SALT:
        try:
            web_url(payload.get("u"))
        except ValueError:
            return None
    return payload
