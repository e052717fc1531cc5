"""The database this process uses, as a URL for processes it starts (DATABASE_URL)."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def database_url() -> str:
    """This process's PostgreSQL database as a URL; under tests, the test database."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}{host}:{db.get('PORT') or 5432}/{quote(db['NAME'], safe='')}"
