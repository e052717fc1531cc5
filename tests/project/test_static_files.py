"""Static files on the development server (bin/run, DEBUG on): a file in the static
folders is served, and a path reaching out of them (../ written in any spelling) is a
404, as a missing file is, never a server error."""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as Runserver
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, override_settings

REAL = "/static/admin/css/base.css"
OUTSIDE = [
    "/static/..%2f..%2fetc%2fpasswd",
    "/static/../../etc/passwd",
    "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/admin/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/..%5c..%5cetc%5cpasswd",
    "/static//etc/passwd",
    "/static/admin%00/css/base.css",
]


@override_settings(DEBUG=True)
def test_the_development_server_serves_a_static_file() -> None:
    response = Client().get(REAL)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"/*")  # type: ignore[attr-defined]


@override_settings(DEBUG=True)
@pytest.mark.parametrize("path", OUTSIDE)
def test_a_path_out_of_the_static_folders_is_not_found_not_a_server_error(path: str) -> None:
    assert Client(raise_request_exception=False).get(path).status_code == 404


@override_settings(DEBUG=False)
def test_without_debug_leadflow_serves_no_static_files() -> None:
    assert Client().get(REAL).status_code == 404  # the web server in front of it serves STATIC_ROOT


def bin_run_server() -> Callable[..., Any]:
    """The WSGI application the server bin/run starts answers with: runserver's, with the
    options bin/run gives it."""
    line = next(line for line in (settings.BASE_DIR / "bin" / "run").read_text().splitlines() if " runserver " in line)
    words = shlex.split(line)
    flags = [word for word in words[words.index("runserver") + 1 :] if word.startswith("--")]
    command = Runserver()
    return command.get_handler(**vars(command.create_parser("manage.py", "runserver").parse_args(flags)))


@contextlib.contextmanager
def database_left_alone() -> Iterator[None]:
    """As Django's test client: a request does not close the test's database connection
    (which a test without the database may not touch, after one with it opened it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@override_settings(DEBUG=True)
@pytest.mark.parametrize("path", [REAL, *OUTSIDE])
def test_the_server_bin_run_starts_answers_a_path_out_of_the_static_folders_with_a_404(path: str) -> None:
    # As a server gives the path: decoded, %2f and %00 included.
    environ: dict[str, Any] = {"PATH_INFO": unquote(path, encoding="latin-1"), "HTTP_HOST": "localhost"}
    setup_testing_defaults(environ)
    answered: list[str] = []
    with database_left_alone():
        response = bin_run_server()(environ, lambda status, headers, exc_info=None: answered.append(status))
        response.close()
    assert answered == ["200 OK" if path == REAL else "404 Not Found"]
