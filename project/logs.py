"""Log filters: what the logs may not show."""

from __future__ import annotations

import logging
import re
from typing import Any

# A write key in a query string (RudderStack's beacon and source config send it there:
# navigator.sendBeacon cannot send headers). The key itself stays out of the logs.
_WRITE_KEY_IN_QUERY = re.compile(r"([?&]writeKey=)[^&\s\"']*", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the value of every ``writeKey`` query parameter replaced."""
    return _WRITE_KEY_IN_QUERY.sub(rf"\1{REDACTED}", text)


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactWriteKeys(logging.Filter):
    """Takes write keys out of request lines (the development server's access log,
    ``django.server``, and any record with a URL in its message or arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {name: _redacted(value) for name, value in record.args.items()}
        return True
