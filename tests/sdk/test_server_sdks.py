"""The server SDKs companies already run, in their own processes, sending to Leadflow
changed only in the host: Segment's and RudderStack's Node SDKs (from the npm registry)
and RudderStack's Python SDK (rudder-sdk-python 2.1, which puts an identify's traits in
``context.traits``). Each time the lead gets its traits and score, and its company (a
group call) its account's fields and fit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from scoring import services
from scoring.models import Account
from tests.sdk.conftest import SDK_DIR, lead_scored, need_node_modules

# On PostgreSQL: the SDKs send several requests at once, and the test server's in-memory
# SQLite database is one connection shared by its threads, which concurrent requests
# break ("no such savepoint"); a first run's file database has no such sharing.
pytestmark = pytest.mark.usefixtures("postgres", "transactional_db", "rules")


def _run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=SDK_DIR, capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, f"{command[:2]} failed:\n{done.stdout}\n{done.stderr}"


def _check(lead: Any) -> None:
    assert (lead.first_name, lead.title, lead.city, lead.company_size) == ("Ada", "CTO", "San José", 12)
    assert lead.external_id == "u-42"
    assert lead.attributes == {"plan": "family"}
    assert (lead.fit_score, lead.engagement_score) == (8 + 5, 3 + 2)
    account = Account.objects.get(external_id="acme-42")
    assert lead.account_id == account.pk
    assert (account.name, account.industry, account.company_size) == ("Acme", "Software", 250)
    assert (account.attributes, account.fit_score) == ({"plan": "enterprise"}, 10)


@pytest.fixture(autouse=True)
def account_rules(rules: None) -> None:
    services.account_rule_create(name="Software makers", points=10, conditions=[("industry", "equals", "Software")])


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_the_node_sdks_send_identify_page_track_and_group(live_server: Any, server_key: str, sdk: str) -> None:
    need_node_modules()
    node = shutil.which("node")
    assert node, "node is not installed"
    _run([node, "send.cjs", sdk, live_server.url, server_key])
    _check(lead_scored("ada@example.com", 2))


PYTHON_SENDER = """
import sys
from rudderstack.analytics import Client

errors = []
client = Client(write_key=sys.argv[2], host=sys.argv[1], sync_mode=True, on_error=lambda e, b: errors.append(e))
client.page(anonymous_id="anon-7", name="Pricing", properties={"url": "https://toys.example/pricing"})
client.identify("u-42", {"email": "ada@example.com", "firstName": "Ada", "title": "CTO",
                         "address": {"city": "San José"}, "employees": 12, "plan": "family"}, anonymous_id="anon-7")
client.track("u-42", "Form Submitted", {"form": "newsletter"}, context={"traits": {"email": "ada@example.com"}})
client.group("u-42", "acme-42", {"name": "Acme", "industry": "Software", "employees": 250, "plan": "enterprise"},
             context={"traits": {"email": "ada@example.com"}})
client.flush()
sys.exit(f"the SDK reported {errors}" if errors else 0)
"""


def test_the_rudderstack_python_sdk_sends_traits_in_context(live_server: Any, server_key: str) -> None:
    _run([sys.executable, "-c", textwrap.dedent(PYTHON_SENDER), live_server.url, server_key])
    _check(lead_scored("ada@example.com", 2))
