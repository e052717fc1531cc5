"""Every JSON door (/api/v1/*, /v1/*, /t/p) refuses bodies a parser chokes on or
PostgreSQL cannot store with a 4xx naming the field, before any key is looked up."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.api_keys import api_key_issue
from intake.bodies import MAX_BODY_DEPTH, BodyError, json_parse, json_text
from intake.models import ApiScope
from scoring.models import Interaction, Lead, Visitor

pytestmark = pytest.mark.django_db

DOORS = [
    "/api/v1/events",
    "/api/v1/leads",
    "/api/v1/enrollments",
    "/v1/batch",
    "/v1/identify",
    "/v1/track",
    "/v1/page",
    "/t/p",
]
DEEP = f"nested deeper than {MAX_BODY_DEPTH} levels"


def nested(depth: int, key: str = "x") -> str:
    """``depth`` objects one inside the other (built as text: json.dumps would itself recurse)."""
    return f'{{"{key}":' * depth + "1" + "}" * depth


def errors_of(response: Any) -> dict[str, list[str]]:
    """The field errors, whichever door's shape the answer has."""
    body = response.json()
    found: dict[str, list[str]] = body.get("errors") or {k: v for k, v in body.items() if isinstance(v, list)}
    return found


@pytest.fixture
def api() -> Client:
    key = api_key_issue(name="All", scopes=[scope.value for scope in ApiScope]).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


def nothing_stored() -> bool:
    return not (Interaction.objects.exists() or Lead.objects.exists() or Visitor.objects.exists())


@pytest.mark.parametrize("depth", [MAX_BODY_DEPTH + 1, 900, 5_000])  # 5,000: past where Python's parser fails
@pytest.mark.parametrize("door", DOORS)
def test_a_body_nested_too_deep_is_refused_before_authentication(
    door: str, depth: int, django_assert_num_queries: Any
) -> None:
    anonymous = Client(HTTP_HOST="localhost")
    with django_assert_num_queries(0):  # not even the key look-up
        response = anonymous.post(door, nested(depth), content_type="application/json")
    assert response.status_code == 400
    assert errors_of(response) == {".".join(["x"] * MAX_BODY_DEPTH): [f"{DEEP} (objects and lists)"]}


def test_properties_nested_900_deep_are_refused_naming_them(api: Client) -> None:
    body = '{"events": [{"id": "e-1", "type": "email_open", "lead": {"email": "a@example.com"}, "properties": '
    body += nested(900, "p") + "}]}"
    response = api.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 400
    [(field, reasons)] = errors_of(response).items()
    assert field.startswith("events[0].properties.p.p.")
    assert DEEP in reasons[0]
    assert nothing_stored()


@pytest.mark.parametrize(
    ("door", "body", "field"),
    [
        ("/api/v1/events", '{"id": "\\ud800", "type": "email_open", "lead": {"email": "a@example.com"}}', "id"),
        (
            "/api/v1/events",
            '{"events": [{"id": "e", "type": "page_view", "visitor_id": "v", "properties": {"k\\udc00": 1}}]}',
            "events[0].properties.k\\udc00",
        ),
        (
            "/api/v1/leads",
            '{"email": "a@example.com", "attributes": {"plan": ["ok", "\\udfff"]}}',
            "attributes.plan[1]",
        ),
        (
            "/v1/track",
            '{"userId": "a@example.com", "event": "Email Opened", "properties": {"a": "x\\ud800"}}',
            "properties.a",
        ),
        ("/v1/batch", '{"batch": [{"type": "identify", "traits": {"\\ud800": 1}}]}', "batch[0].traits.\\ud800"),
        ("/t/p", '{"visitor_id": "v-1", "url": "https://toys.example/\\ud800"}', "url"),
    ],
)
def test_a_lone_surrogate_anywhere_is_refused_by_its_path_before_authentication(
    door: str, body: str, field: str, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        response = Client(HTTP_HOST="localhost").post(door, body, content_type="application/json")
    assert response.status_code == 400
    assert list(errors_of(response)) == [field]
    assert "lone surrogate" in errors_of(response)[field][0]


def test_escaped_surrogate_pairs_are_ordinary_text(api: Client) -> None:
    body = (
        '{"id": "e-\\ud83d\\ude00", "type": "email_open", "lead": {"email": "a@example.com"},'
        ' "properties": {"\\\\ud800": "\\ud83e\\udd16"}}'
    )
    response = api.post("/api/v1/events", body, content_type="application/json")
    assert (response.status_code, response.json()["accepted"]) == (202, 1)
    stored = Interaction.objects.get()
    assert (stored.idempotency_key, stored.properties) == ("e-😀", {"\\ud800": "🤖"})


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "1" * 5000])
@pytest.mark.parametrize("door", ["/api/v1/events", "/v1/track", "/t/p"])
def test_numbers_postgresql_cannot_store_are_refused(door: str, number: str) -> None:
    body = f'{{"id": "e", "type": "email_open", "visitor_id": "v", "properties": {{"n": {number}}}}}'
    response = Client(HTTP_HOST="localhost").post(door, body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in json.dumps(response.json())
    # Named as every other refusal of a field is: the body as such was blamed.
    assert list(errors_of(response)) == ["properties.n"]
    assert nothing_stored()


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        ('{"a": [1, {"b": NaN}], "c": Infinity}', "a[1].b", "NaN is not a JSON number"),
        ('{"a": 1e999, "b": NaN}', "a", "the number 1e999 is too large to store"),
        ('{"a": {"b": -Infinity}}', "a.b", "-Infinity is not a JSON number"),
        ('{"a": ' + "9" * 5000 + "}", "a", f"the number {'9' * 40}… is too long to read (5000 digits)"),
    ],
)
def test_the_first_number_postgresql_cannot_store_is_named_by_its_place(
    api: Client, body: str, path: str, reason: str
) -> None:
    response = api.post("/api/v1/events", body, content_type="application/json")
    assert (response.status_code, response.json()) == (
        400,
        {path: [f"JSON parse error - {reason}"], "error_codes": {path: ["parse_error"]}},
    )


@pytest.mark.parametrize("body", ["NaN", '{"a": NaN'])
def test_a_number_not_in_a_field_or_a_body_broken_besides_blames_the_body(api: Client, body: str) -> None:
    response = api.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_nul_in_a_query_parameter_is_refused_by_name_before_authentication(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        response = Client(HTTP_HOST="localhost").get("/api/v1/leads?email=ana%00@example.com")
    assert (response.status_code, response.json()) == (
        400,
        {"email": ["must not contain the NUL character (\\u0000)"], "error_codes": {"email": ["invalid"]}},
    )


@pytest.mark.parametrize("key", ["lf_ab\x00cd_efgh", "lf_\x00_x", "lf_abcd_" + "x" * 5000, "lf_abcd_\u00e9", "lf__"])
def test_malformed_keys_are_refused_as_keys(key: str) -> None:
    bearer = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert bearer.get("/api/v1/leads?email=a@example.com").status_code == 401
    segment = Client(HTTP_HOST="localhost").post(
        "/v1/track", json.dumps({"writeKey": key, "event": "Email Opened"}), content_type="application/json"
    )
    assert segment.status_code == 401


def test_only_bodies_declared_json_are_read_by_the_api_guard(api: Client) -> None:
    api = api
    assert api.post("/api/v1/events", nested(100), content_type="text/plain").status_code == 415


def test_a_body_over_the_limit_is_refused_before_it_is_read(api: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = Client(HTTP_HOST="localhost").post("/t/p", json.dumps({"url": "x" * 200}), content_type="text/plain")
    assert response.status_code == 413


json_texts = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=20,
).map(json.dumps)


@settings(max_examples=200, deadline=None)
@given(
    text=st.one_of(
        json_texts,
        st.text(alphabet='{}[]":,\\ud800 1ab', max_size=80),
        st.builds(lambda d, k: nested(d, k), st.integers(1, 2000), st.sampled_from(["x", "\\ud800", "\\u0000"])),
    )
)
def test_the_parser_answers_a_value_or_a_body_error_for_any_text(text: str) -> None:
    error: BodyError | None = None
    try:
        json_parse(text.encode("utf-8", "surrogatepass"))
    except BodyError as exc:
        error = exc
    assert error is None or (error.status == 400 and error.reason)


exact_json_texts = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=20,
).map(json.dumps)


@settings(max_examples=300, deadline=None)
@given(text=exact_json_texts)
def test_a_body_reads_as_pythons_parser_reads_it_and_is_stored_as_it_was_sent(text: str) -> None:
    """Integers past 64 bits stay whole, 1 and 1.0 stay apart, -0.0 stays -0.0: whichever
    parser reads the body, and whichever writes the stored text."""
    value = json_parse(text.encode("utf-8", "surrogatepass"))
    expected = json.loads(text)
    assert json.dumps(value) == json.dumps(expected)
    assert json.dumps(json.loads(json_text(value))) == json.dumps(expected)


SITE = "https://toys.example"
GUARDED = [
    # (what the site sent, its query string, the status the guard answers)
    (nested(MAX_BODY_DEPTH + 5), "", 400),
    ('{"visitor_id": "v", "url": "\\ud800"}', "", 400),
    ("{not json", "", 400),
    ('{"visitor_id": "v"}', "?x=%00", 400),
    ("x" * 1000, "", 413),
]


@pytest.mark.parametrize(("body", "query", "status"), GUARDED)
def test_the_beacons_refusals_carry_cors_headers_so_the_sites_fetch_can_read_them(
    body: str, query: str, status: int, settings: Any
) -> None:
    settings.LEADFLOW_TRACKING_ORIGINS = [SITE]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 500
    web = Client(HTTP_HOST="localhost")

    allowed = web.post(f"/t/p{query}", body, content_type="text/plain", headers={"Origin": SITE})
    other = web.post(f"/t/p{query}", body, content_type="text/plain", headers={"Origin": "https://evil.example"})

    assert (allowed.status_code, other.status_code) == (status, status)
    assert allowed["Access-Control-Allow-Origin"] == SITE
    assert allowed["Vary"] == "Origin"
    assert "Access-Control-Allow-Origin" not in other
    assert not Visitor.objects.exists()


def test_the_api_refusals_carry_no_cors_headers(settings: Any) -> None:
    settings.LEADFLOW_TRACKING_ORIGINS = [SITE]
    response = Client(HTTP_HOST="localhost").post(
        "/api/v1/events", nested(MAX_BODY_DEPTH + 5), content_type="application/json", headers={"Origin": SITE}
    )
    assert response.status_code == 400
    assert "Access-Control-Allow-Origin" not in response


# A body each door that reads gzip stores (how it is sent: path, content type), and what it stores.
GZIP_DOORS = [
    ("/api/v1/events", "application/json", {"id": "e-1", "type": "page_view", "lead": {"email": "ana@example.com"}}),
    ("/api/v1/leads", "application/json", {"email": "ana@example.com"}),
    ("/v1/track", "application/json", {"messageId": "m-1", "userId": "ana@example.com", "event": "Form Submitted"}),
    ("/v1/batch", "application/json", {"batch": [{"type": "page", "messageId": "m-1", "anonymousId": "v-1"}]}),
    ("/beacon/v1/batch", "text/plain", {"batch": [{"type": "page", "messageId": "m-1", "anonymousId": "v-1"}]}),
    ("/t/p", "text/plain", {"visitor_id": "v-1", "url": "https://toys.example/"}),
]


def _crc_broken(zipped: bytes) -> bytes:
    """``zipped`` with one bit of its CRC-32 (the trailer's first four bytes) flipped."""
    return zipped[:-8] + bytes([zipped[-8] ^ 1]) + zipped[-7:]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda zipped: zipped[:-8], "cut short"),  # the whole trailer (CRC and length) missing
        (lambda zipped: zipped[:-1], "cut short"),
        (_crc_broken, "not valid gzip"),
        (lambda zipped: zipped + zipped, "goes on after the end"),  # a second member was dropped
    ],
    ids=["no-trailer", "last-byte-missing", "wrong-crc", "two-members"],
)
@pytest.mark.parametrize(("door", "content_type", "body"), GZIP_DOORS, ids=[door for door, *_ in GZIP_DOORS])
def test_a_gzip_body_cut_short_or_corrupted_is_refused_and_nothing_stored(
    door: str, content_type: str, body: object, damage: Any, reason: str
) -> None:
    """zlib reads a gzip body cut before its trailer as far as it goes, so the JSON of one
    missing only its last bytes was whole and stored; the body must be whole gzip."""
    key = api_key_issue(name="All", scopes=[scope.value for scope in ApiScope]).key
    sender = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"{door}?writeKey={key}" if door.startswith("/beacon/") else door
    zipped = gzip.compress(json.dumps(body).encode())

    refused = sender.post(url, damage(zipped), content_type=content_type, headers={"Content-Encoding": "gzip"})
    assert refused.status_code == 400
    assert reason in refused.json()["detail"]
    assert nothing_stored()

    whole = sender.post(url, zipped, content_type=content_type, headers={"Content-Encoding": "gzip"})
    assert whole.status_code < 300
    assert not nothing_stored()


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/reports/campaigns/?source=web%00site", "source"),
        ("/reports/campaigns/csv?source=web%00site", "source"),
        ("/admin/scoring/lead/?lifecycle_stage__exact=%00", "lifecycle_stage__exact"),
        ("/sales/?so%00rt=score", "so\\u0000rt"),
    ],
)
def test_nul_in_a_query_parameter_of_a_page_is_refused_naming_it(url: str, name: str) -> None:
    """PostgreSQL cannot compare text holding NUL: a report filtered on such a source, or an
    admin list filter given one, answered a server error."""
    admin = User.objects.create_superuser("boss", "boss@example.com", "pw")
    web = Client(HTTP_HOST="localhost")
    web.force_login(admin)

    response = web.get(url)

    assert response.status_code == 400
    assert response.content.decode() == f"{name}: must not contain the NUL character (\\u0000)"
