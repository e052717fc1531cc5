"""Webhooks cannot be aimed inside: URLs pointing at loopback, private, link-local,
multicast, unspecified or reserved addresses are refused when saved in the admin,
when imported from a model file, and again when the call connects (after DNS),
unless LEADFLOW_WEBHOOK_ALLOWED_NETWORKS allows their network. TLS still checks
the certificate against the host name."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from routing import egress, services, webhooks
from routing.models import RoutingAction, RoutingRule, WebhookAttempt, WebhookDelivery
from scoring.models import ScoreGroup
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.conftest import WebhookReceiver, serving
from tests.routing.factories import adjust, marketer, rule
from tests.routing.test_model_file import toy_store_import, write

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)
SECRET = "s3cret-shared-with-the-crm"

INSIDE = [
    ("http://127.0.0.1:6379/", "127.0.0.1 is a loopback address"),
    ("http://127.0.0.1:5432/", "127.0.0.1 is a loopback address"),
    ("http://localhost:8000/admin/", "localhost stands for 127.0.0.1, which is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
    ("http://192.168.0.10/hook", "192.168.0.10 is a private address"),
    ("http://172.16.5.4/hook", "172.16.5.4 is a private address"),
    ("http://0.0.0.0:8000/", "0.0.0.0 is the unspecified address"),
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
    ("http://100.64.0.1/", "100.64.0.1 is not a public address"),
    ("http://[::1]:8000/", "::1 is a loopback address"),
    ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a private address"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 carries 127.0.0.1, a loopback address"),
    ("http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe carries 169.254.169.254, a link-local address"),
    ("http://2130706433/", "2130706433 stands for 127.0.0.1, which is a loopback address"),
    ("http://0x7f000001/", "0x7f000001 stands for 127.0.0.1, which is a loopback address"),
    ("http://0177.0.0.1/", "not a valid URL"),  # httpx would not call it either
    ("http://127.1/", "127.1 stands for 127.0.0.1, which is a loopback address"),
    ("http://0xa9.254.169.254/", "0xa9.254.169.254 stands for 169.254.169.254, which is a link-local address"),
    ("http://app.localhost/", "app.localhost stands for 127.0.0.1, which is a loopback address"),
    ("ftp://crm.example/hook", "only http and https URLs can be called, not ftp"),
    ("gopher://crm.example/", "only http and https URLs can be called, not gopher"),
]


def actions_formset(response: Any) -> Any:
    """The rule page's actions (beside its conditions)."""
    return next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "actions")


@pytest.fixture
def nothing_allowed(settings: Any) -> Any:
    settings.LEADFLOW_WEBHOOK_ALLOWED_NETWORKS = []
    return settings


# --- the address check -------------------------------------------------------------------


@pytest.mark.parametrize(("url", "problem"), INSIDE)
def test_urls_pointing_inside_are_refused_with_the_reason(nothing_allowed: Any, url: str, problem: str) -> None:
    refused = egress.url_problem(url)
    assert refused is not None
    assert refused.english().startswith(problem)


@pytest.mark.parametrize(
    "url",
    ["https://crm.example/hooks/leadflow", "http://hooks.slack.com/x", "https://8.8.8.8/", "https://[2606:4700::1]/"],
)
def test_public_urls_pass(nothing_allowed: Any, url: str) -> None:
    assert egress.url_problem(url) is None


def test_allowed_networks_let_an_on_premise_crm_through_and_nothing_else(settings: Any) -> None:
    settings.LEADFLOW_WEBHOOK_ALLOWED_NETWORKS = ["10.0.5.0/24", "127.0.0.1/32"]
    assert egress.url_problem("http://10.0.5.7/hook") is None
    assert egress.url_problem("http://127.0.0.1:8080/hook") is None
    assert egress.url_problem("http://[::ffff:10.0.5.7]/hook") is None  # the same address, written in IPv6
    assert egress.url_problem("http://10.0.6.7/hook") is not None
    assert egress.url_problem("http://127.0.0.2/hook") is not None
    assert egress.url_problem("http://169.254.169.254/") is not None
    # localhost is 127.0.0.1 and ::1: allowing one of them does not allow the name.
    refused = egress.url_problem("http://localhost:8080/hook")
    assert refused is not None
    assert refused.english() == (
        "localhost stands for ::1, which is a loopback address: "
        "webhooks may not call it unless LEADFLOW_WEBHOOK_ALLOWED_NETWORKS allows its network"
    )


INTERNAL_V4 = st.one_of(
    *(
        st.integers(int(net.network_address), int(net.broadcast_address))
        for net in map(
            ipaddress.ip_network,
            ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "0.0.0.0/8"],
        )
    )
)


def _spellings(value: int) -> st.SearchStrategy[str]:
    """The ways a resolver reads an IPv4 address: dotted, one number, hex, octal, short forms."""
    a, b, c, d = value.to_bytes(4, "big")
    return st.sampled_from(
        [
            f"{a}.{b}.{c}.{d}",
            str(value),
            hex(value),
            f"0{value:o}",
            f"{a}.{(b << 16) | (c << 8) | d}",
            f"{a}.{b}.{(c << 8) | d}",
            f"{hex(a)}.{hex(b)}.{hex(c)}.{hex(d)}",
            f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
            f"[::ffff:{a}.{b}.{c}.{d}]",
        ]
    )


# Drawing a spelling of an address is slow on a busy machine, not a failure.
@hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(host=INTERNAL_V4.flatmap(_spellings), port=st.integers(1, 65535), scheme=st.sampled_from(["http", "https"]))
def test_every_spelling_of_an_internal_ipv4_address_is_refused(host: str, port: int, scheme: str) -> None:
    with override_settings(LEADFLOW_WEBHOOK_ALLOWED_NETWORKS=[]):
        assert egress.url_problem(f"{scheme}://{host}:{port}/hook") is not None


def _carried(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if address.version == 4:
        return []
    assert isinstance(address, ipaddress.IPv6Address)
    carried = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in ipaddress.ip_network("64:ff9b::/96"):
        carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in carried if a is not None]


@given(address=st.ip_addresses())
def test_only_public_unicast_addresses_pass(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Refused exactly when the address, or an IPv4 address it carries, is not globally
    reachable (the IANA special-purpose registries, as the standard library reads them),
    multicast or reserved."""
    inside = any(not a.is_global or a.is_multicast or a.is_reserved for a in (address, *_carried(address)))
    with override_settings(LEADFLOW_WEBHOOK_ALLOWED_NETWORKS=[]):
        assert (egress.address_problem(address) is not None) == inside


# --- at save: the admin and the model ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "problem"), INSIDE)
def test_the_model_refuses_a_webhook_url_pointing_inside(nothing_allowed: Any, url: str, problem: str) -> None:
    made = RoutingRule.objects.create(key="r", name="R", trigger="qualified")
    action = RoutingAction(rule=made, kind="webhook", url=url, secret=SECRET)
    with pytest.raises(ValidationError) as raised:
        action.full_clean()
    assert any(m.startswith(f"Webhooks cannot call this URL: {problem}") for m in raised.value.message_dict["url"])


def rule_form(url: str, *, secret: str = SECRET) -> dict[str, str]:
    """The admin's add form for a rule with one webhook action."""
    return {
        "name": "CRM sync",
        "key": "crm-sync",
        "active": "on",
        "position": "0",
        "trigger": "qualified",
        "conditions-TOTAL_FORMS": "0",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
        "actions-TOTAL_FORMS": "1",
        "actions-INITIAL_FORMS": "0",
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "1000",
        "actions-0-position": "0",
        "actions-0-kind": "webhook",
        "actions-0-url": url,
        "actions-0-secret": secret,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:6379/", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
    ],
)
def test_the_admin_refuses_it_on_the_field_and_stores_nothing(nothing_allowed: Any, url: str, problem: str) -> None:
    client = Client()
    client.force_login(marketer())

    response = client.post(reverse("admin:routing_routingrule_add"), rule_form(url))

    assert response.status_code == 200  # the form again, with the error
    [errors] = actions_formset(response).errors
    assert f"Webhooks cannot call this URL: {problem}" in errors["url"][0]
    assert "LEADFLOW_WEBHOOK_ALLOWED_NETWORKS" in errors["url"][0]
    assert not RoutingRule.objects.exists()
    assert not RoutingAction.objects.exists()


@pytest.mark.django_db
def test_a_spanish_marketer_is_told_why_in_spanish_and_the_host_keeps_its_case(nothing_allowed: Any) -> None:
    client = Client(headers={"accept-language": "es"})
    client.force_login(marketer())

    response = client.post(reverse("admin:routing_routingrule_add"), rule_form("http://localhost:8000/admin/"))

    [errors] = actions_formset(response).errors
    assert errors["url"] == [
        "Los webhooks no pueden llamar a esta URL: localhost equivale a 127.0.0.1, que es una dirección de "
        "loopback: los webhooks no pueden llamarla salvo que LEADFLOW_WEBHOOK_ALLOWED_NETWORKS permita su red."
    ]


@pytest.mark.django_db
def test_a_refused_call_is_shown_in_the_reader_s_language(nothing_allowed: Any, hot: ScoreGroup) -> None:
    delivery = queue_webhook(hot, "http://[::ffff:a9fe:a9fe]/latest/")  # planted past the checks
    webhooks.webhooks_deliver_due(now=T0)
    attempt = failed_for_good(delivery)
    assert attempt.error.startswith("Refused: ::ffff:a9fe:a9fe carries 169.254.169.254, a link-local address")
    with translation.override("es"):
        assert attempt.error_shown().startswith(
            "Rechazado: ::ffff:a9fe:a9fe lleva dentro 169.254.169.254, una dirección de enlace local"
        )


@pytest.mark.django_db
def test_the_admin_takes_a_public_url_and_an_allowed_one(settings: Any) -> None:
    settings.LEADFLOW_WEBHOOK_ALLOWED_NETWORKS = ["10.0.5.0/24"]
    client = Client()
    client.force_login(marketer())
    response = client.post(reverse("admin:routing_routingrule_add"), rule_form("https://crm.example/hook"))
    assert response.status_code == 302
    form = rule_form("http://10.0.5.7/hook") | {"key": "on-premise", "name": "On-premise CRM"}
    assert client.post(reverse("admin:routing_routingrule_add"), form).status_code == 302
    assert sorted(RoutingAction.objects.values_list("url", flat=True)) == [
        "http://10.0.5.7/hook",
        "https://crm.example/hook",
    ]


# --- at import: the model file --------------------------------------------------------------

ROUTING_FILE = """\
leadflow_model: 1
routing:
  - key: crm-sync
    name: Qualified leads go to the CRM
    trigger: qualified
    actions:
      - {kind: set_stage, stage: sql}
      - {kind: add_tag, tag: crm}
      - {kind: webhook, url: 'URL', secret_env: LEADFLOW_TEST_CRM_SECRET}
"""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:5432/", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1 carries 10.0.0.1, a private address"),
        ("http://localhost/", "localhost stands for 127.0.0.1"),
    ],
)
def test_the_model_file_refuses_it_by_place_and_imports_nothing(
    nothing_allowed: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, problem: str
) -> None:
    toy_store_import()
    monkeypatch.setenv("LEADFLOW_TEST_CRM_SECRET", SECRET)
    before = set(RoutingRule.objects.values_list("key", "active"))

    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, ROUTING_FILE.replace("URL", url))))

    assert "nothing was imported" in str(raised.value)
    assert f"routing[0].actions[2].url: Webhooks cannot call this URL: {problem}" in str(raised.value)
    assert set(RoutingRule.objects.values_list("key", "active")) == before
    assert not RoutingAction.objects.filter(kind="webhook").exists()


@pytest.mark.django_db
def test_the_model_file_takes_an_allowed_network(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings.LEADFLOW_WEBHOOK_ALLOWED_NETWORKS = ["10.0.5.0/24"]
    toy_store_import()
    monkeypatch.setenv("LEADFLOW_TEST_CRM_SECRET", SECRET)
    call_command(
        "scoring_model_import", "--publish", str(write(tmp_path, ROUTING_FILE.replace("URL", "http://10.0.5.7/crm")))
    )
    assert RoutingAction.objects.get(kind="webhook").url == "http://10.0.5.7/crm"


# --- at connect time -------------------------------------------------------------------------


@pytest.fixture
def hot() -> ScoreGroup:
    return ScoreGroupFactory.create(key="hot", name="Hot", min_score=80)


def queue_webhook(hot: ScoreGroup, url: str) -> WebhookDelivery:
    """A webhook rule saved with a harmless URL, and a delivery routing queued for it."""
    rule("enters_group", {"kind": "webhook", "url": "https://crm.example/hook", "secret": SECRET}, group=hot)
    adjust(LeadFactory.create(), 85)
    services.transitions_route(now=T0)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(url=url)
    return delivery


def failed_for_good(delivery: WebhookDelivery) -> WebhookAttempt:
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.FAILED, 1)
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code is None
    # Not retried: a later run leaves it alone.
    assert webhooks.webhooks_deliver_due(now=T0 + dt.timedelta(days=1)) == webhooks.DeliverySummary()
    return attempt


@pytest.mark.django_db
def test_a_url_planted_past_the_checks_is_refused_when_called_and_not_retried(
    nothing_allowed: Any, hot: ScoreGroup, webhook_receiver: WebhookReceiver
) -> None:
    delivery = queue_webhook(hot, webhook_receiver.url)  # 127.0.0.1, set by a bare UPDATE

    summary = webhooks.webhooks_deliver_due(now=T0)

    assert (summary.delivered, summary.retrying, summary.failed) == (0, 0, 1)
    attempt = failed_for_good(delivery)
    assert attempt.error.startswith("Refused: 127.0.0.1 is a loopback address")
    assert webhook_receiver.requests == []


@pytest.mark.django_db
def test_the_metadata_address_planted_in_a_rule_is_refused_when_called(nothing_allowed: Any, hot: ScoreGroup) -> None:
    made = rule("enters_group", {"kind": "webhook", "url": "https://crm.example/hook", "secret": SECRET}, group=hot)
    RoutingAction.objects.filter(rule=made).update(url="http://169.254.169.254/latest/meta-data/")
    adjust(LeadFactory.create(), 85)
    services.transitions_route(now=T0)

    assert webhooks.webhooks_deliver_due(now=T0).failed == 1
    attempt = failed_for_good(WebhookDelivery.objects.get())
    assert attempt.error.startswith("Refused: 169.254.169.254 is a link-local address")


@dataclass
class FakeDns:
    """Names the tests make up and the resolver's answers for them, one per lookup (the
    last one repeated); other names resolve as usual. DNS is outside our walls: faked."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def __setitem__(self, host: str, answers: list[list[str]]) -> None:
        self.answers[host] = answers


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    real = egress.resolve

    def resolve(host: str, port: int) -> list[egress.IPAddress]:
        if host not in fake.answers:
            return real(host, port)
        fake.lookups.append(host)
        queue = fake.answers[host]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return [ipaddress.ip_address(a) for a in answer]

    monkeypatch.setattr(egress, "resolve", resolve)
    return fake


@pytest.mark.django_db
def test_a_host_name_that_resolves_to_a_private_address_is_refused_when_connecting(
    nothing_allowed: Any, hot: ScoreGroup, webhook_receiver: WebhookReceiver, dns: FakeDns
) -> None:
    dns["crm.example"] = [["127.0.0.1"]]
    url = f"http://crm.example:{webhook_receiver.port}/hooks/leadflow"
    assert egress.url_problem(url) is None  # passes every check made without DNS
    delivery = queue_webhook(hot, url)

    assert webhooks.webhooks_deliver_due(now=T0).failed == 1

    attempt = failed_for_good(delivery)
    assert attempt.error.startswith("Refused: crm.example resolves to 127.0.0.1, which is a loopback address")
    assert webhook_receiver.requests == []


@pytest.mark.django_db
def test_one_private_address_among_the_answers_refuses_the_name(
    nothing_allowed: Any, hot: ScoreGroup, webhook_receiver: WebhookReceiver, dns: FakeDns
) -> None:
    dns["crm.example"] = [["93.184.216.34", "10.0.0.7"]]
    delivery = queue_webhook(hot, f"http://crm.example:{webhook_receiver.port}/hook")
    assert webhooks.webhooks_deliver_due(now=T0).failed == 1
    assert failed_for_good(delivery).error.startswith("Refused: crm.example resolves to 10.0.0.7")


@pytest.mark.django_db
def test_the_connection_goes_to_the_address_checked_not_to_a_second_lookup(
    settings: Any, hot: ScoreGroup, webhook_receiver: WebhookReceiver, dns: FakeDns
) -> None:
    """DNS rebinding: the name answers an allowed address once and an internal one after.
    One lookup per connection, and the socket goes to what it answered."""
    settings.LEADFLOW_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    dns["crm.example"] = [["127.0.0.1"], ["10.0.0.7"]]
    queue_webhook(hot, f"http://crm.example:{webhook_receiver.port}/hooks/leadflow")

    assert webhooks.webhooks_deliver_due(now=T0).delivered == 1

    assert dns.lookups == ["crm.example"]
    [request] = webhook_receiver.requests
    assert request.headers["Host"] == f"crm.example:{webhook_receiver.port}"  # the name, as the receiver expects


@pytest.mark.django_db
def test_a_redirect_is_not_followed(
    hot: ScoreGroup, webhook_receiver: WebhookReceiver, other_receiver: WebhookReceiver, settings: Any
) -> None:
    settings.LEADFLOW_WEBHOOK_RETRY_SECONDS = 30
    webhook_receiver.answer(307)
    webhook_receiver.location = other_receiver.url  # an internal service, say
    delivery = queue_webhook(hot, webhook_receiver.url)

    assert webhooks.webhooks_deliver_due(now=T0).retrying == 1

    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code == 307
    assert attempt.error == f"HTTP 307: redirect to {other_receiver.url} not followed"
    assert len(webhook_receiver.requests) == 1
    assert other_receiver.requests == []


@pytest.mark.django_db
def test_a_redirect_to_the_metadata_address_is_not_followed(
    hot: ScoreGroup, webhook_receiver: WebhookReceiver, settings: Any
) -> None:
    webhook_receiver.answer(302)
    webhook_receiver.location = "http://169.254.169.254/latest/meta-data/iam/"
    queue_webhook(hot, webhook_receiver.url)
    assert webhooks.webhooks_deliver_due(now=T0).retrying == 1
    assert WebhookAttempt.objects.get().error == (
        "HTTP 302: redirect to http://169.254.169.254/latest/meta-data/iam/ not followed"
    )


# --- TLS checks the name, though the socket goes to the checked address ------------------------


def _certificate(name: str, issuer_key: ec.EllipticCurvePrivateKey | None = None) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(issuer_key or key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), pem_key


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    """An HTTPS receiver on 127.0.0.1 whose (self-signed) certificate names crm.example,
    and a client context that trusts that certificate and nothing else."""
    cert, key = _certificate("crm.example")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[socket.socket, Any]:
            sock, address = super().get_request()
            sock.settimeout(5)
            try:
                return server_context.wrap_socket(sock, server_side=True), address
            except (ssl.SSLError, OSError):
                sock.close()
                raise

    server = Server(("127.0.0.1", 0), Handler)
    client_context = ssl.create_default_context(cadata=cert.decode())
    with serving(server):
        yield int(server.server_address[1]), client_context


def test_tls_checks_the_certificate_against_the_name(tls_receiver: tuple[int, ssl.SSLContext], dns: FakeDns) -> None:
    port, context = tls_receiver
    dns["crm.example"] = [["127.0.0.1"]]
    dns["wrong.example"] = [["127.0.0.1"]]
    with (
        override_settings(LEADFLOW_WEBHOOK_ALLOWED_NETWORKS=["127.0.0.1/32"]),
        webhooks.webhook_client(ssl_context=context) as client,
    ):
        assert client.post(f"https://crm.example:{port}/hook", content=b"{}").status_code == 204
        # Same address, another name: the certificate does not name it.
        with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|match"):
            client.post(f"https://wrong.example:{port}/hook", content=b"{}")


@pytest.mark.django_db
def test_a_proxy_from_the_environment_is_not_used(
    hot: ScoreGroup, webhook_receiver: WebhookReceiver, other_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would connect on our behalf, to addresses never checked.
    proxy = other_receiver.url.rsplit("/", 2)[0]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    queue_webhook(hot, webhook_receiver.url)

    assert webhooks.webhooks_deliver_due(now=T0).delivered == 1

    assert len(webhook_receiver.requests) == 1
    assert other_receiver.requests == []


def test_the_name_is_looked_up_within_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow_name_server(host: str, port: int) -> list[egress.IPAddress]:
        release.wait(30)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(egress, "resolve", slow_name_server)
    try:
        with egress.deadline(0.2), pytest.raises(egress.DeadlineExceeded, match=r"looking up crm\.example"):
            egress.GuardedBackend().connect_tcp("crm.example", 80)
    finally:
        release.set()
