"""Leadflow in Spanish and English: the language a person gets (browser, switcher,
their saved preference), rule sentences in Spanish, and a catalogue with nothing left
untranslated."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from axes.models import AccessAttempt
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise

from nurture.models import Sequence
from people.models import Preference
from scoring import lead_fields, sentences
from scoring import rules as pure
from scoring.models import (
    Account,
    AccountGroup,
    AccountTransition,
    DecayPolicy,
    GroupTransition,
    Lead,
    ModelVersion,
    ReplayRun,
    ScoreEntry,
)
from tests.factories import InteractionFactory, LeadFactory, ScoringRuleFactory
from tests.routing.factories import QueueItemFactory, RepFactory

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po"

FIT = pure.Rule(
    id=1,
    dimension=pure.Dimension.FIT,
    points=5,
    conditions=(pure.Condition("industry", pure.Operator.ONE_OF, ["Toys", "Retail"]),),
)
CLICKS = pure.Rule(
    id=2,
    dimension=pure.Dimension.ENGAGEMENT,
    points=2,
    interaction_types=frozenset({"email_click", "email_open"}),
    cap=pure.Cap(count=5, window_days=30),
)


def test_rule_sentences_are_in_the_reader_s_language() -> None:
    with translation.override("es"):
        assert sentences.describe_rule(FIT) == "+5 cuando la industria es una de Toys, Retail"
        assert (
            sentences.describe_rule(CLICKS)
            == "+2 por cada clic en un email o apertura de email (como máximo 5 veces cada 30 días)"
        )
    with translation.override("en"):
        assert sentences.describe_rule(FIT) == "+5 when industry is one of Toys, Retail"
        assert sentences.describe_rule(CLICKS) == pure.describe_rule(CLICKS)


def test_every_field_a_fit_rule_tests_has_a_subject_in_the_sentences() -> None:
    assert set(lead_fields.FIT_LABELS) <= set(sentences.SUBJECTS)


@pytest.mark.django_db
def test_the_browser_s_language_chooses_the_login_page_s() -> None:
    spanish = Client(headers={"accept-language": "es-CR,es;q=0.9,en;q=0.5"}).get("/accounts/login/")
    assert '<html lang="es">' in spanish.content.decode()
    assert "Iniciar sesión" in spanish.content.decode()
    assert spanish["Content-Language"] == "es"
    english = Client(headers={"accept-language": "en-US"}).get("/accounts/login/")
    assert "Log in" in english.content.decode()
    assert "Iniciar sesión" not in english.content.decode()


@pytest.mark.django_db
def test_a_person_s_choice_is_kept_and_beats_the_browser() -> None:
    user = User.objects.create_user("ana", password="x")
    client = Client(headers={"accept-language": "en-US"})
    client.force_login(user)
    response = client.post("/language", {"language": "es", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert Preference.objects.get(user=user).language == "es"
    # On another device (no cookie, an English browser), signed in: still Spanish.
    elsewhere = Client(headers={"accept-language": "en-US"})
    elsewhere.force_login(user)
    assert "Iniciar sesión" in elsewhere.get("/accounts/login/").content.decode()


@pytest.mark.django_db
def test_the_switcher_refuses_unknown_languages_and_foreign_next_urls() -> None:
    client = Client()
    response = client.post("/language", {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    response = client.post("/language", {"language": "es"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    assert "Iniciar sesión" in client.get("/accounts/login/").content.decode()
    assert client.get("/language").status_code == 405


def test_the_spanish_catalogue_has_nothing_untranslated_or_fuzzy_and_is_compiled() -> None:
    po = polib.pofile(str(CATALOGUE))
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    mo = polib.mofile(str(CATALOGUE.with_suffix(".mo")))

    def translations(entries: polib.POFile | polib.MOFile) -> dict[tuple[str | None, str], object]:
        kept = [e for e in entries if e.msgid and not getattr(e, "obsolete", False)]
        return {(e.msgctxt, e.msgid): (e.msgstr, sorted(e.msgstr_plural.items())) for e in kept}

    assert translations(mo) == translations(po), "django.mo is not django.po's: run manage.py compilemessages -l es"


def test_makemessages_finds_nothing_new(tmp_path: Path) -> None:
    """Every string marked for translation in the code is in the catalogue."""
    if shutil.which("xgettext") is None:
        if os.environ.get("CI"):
            pytest.fail("xgettext (GNU gettext) is missing: CI installs it")
        pytest.skip("xgettext (GNU gettext) is not installed")
    copy = tmp_path / "leadflow"
    ignore = shutil.ignore_patterns(".*", "tests", "bench", "node_modules", "__pycache__", "var", "*.sqlite3")
    shutil.copytree(ROOT, copy, ignore=ignore)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DJANGO_SECRET_KEY": "makemessages-check"}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "es", "--no-location", "--ignore", "examples/*"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    ours = {(e.msgctxt, e.msgid) for e in polib.pofile(str(CATALOGUE)) if not e.obsolete}
    found = {
        (e.msgctxt, e.msgid) for e in polib.pofile(str(copy / "locale/es/LC_MESSAGES/django.po")) if not e.obsolete
    }
    assert sorted(found - ours, key=str) == [], "new strings to translate: run manage.py makemessages -l es"
    assert sorted(ours - found, key=str) == [], "strings no longer used: run manage.py makemessages -l es --no-obsolete"


@pytest.mark.django_db
def test_the_api_answers_in_english_whatever_the_caller_s_language() -> None:
    response = Client(headers={"accept-language": "es"}).get("/api/v1/leads")
    assert response.status_code in (401, 403)
    assert response.json()["detail"] == "Authentication credentials were not provided."


def _spanish_admin(admin_user: User) -> Client:
    client = Client(HTTP_HOST="localhost", headers={"accept-language": "es-CR,es;q=0.9"})
    client.force_login(admin_user)
    return client


def _page(client: Client, url: str, **params: str) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, url
    return html.unescape(response.content.decode())


@pytest.mark.django_db
def test_the_reports_pages_speak_spanish(admin_user: User) -> None:
    client = _spanish_admin(admin_user)
    listing = _page(client, reverse("reports:all"))
    for spanish in ["Todos los informes", "Conversión por grupo de puntuación", "¿Qué reglas de puntuación se ganan"]:
        assert spanish in listing, spanish
    for english in ["All reports", "Conversion by score group", "Which scoring rules earn their points?"]:
        assert english not in listing, english
    report = _page(client, reverse("reports:rule-lift"))
    for spanish in ["Impacto de las reglas", "Qué significan las cifras", "Exportar CSV", "Mostrar"]:
        assert spanish in report, spanish
    for english in ["What the figures mean", "Export CSV", ">Show<"]:
        assert english not in report, english
    predictive = _page(client, reverse("reports:predictive"))
    assert "Puntuación predictiva" in predictive
    assert "Predictive scoring" not in predictive


@pytest.mark.django_db
def test_a_lead_s_admin_page_and_the_admin_s_home_speak_spanish(admin_user: User) -> None:
    client = _spanish_admin(admin_user)
    lead = LeadFactory.create()
    page = _page(client, reverse("admin:scoring_lead_change", args=[lead.pk]))
    for spanish in ["Historia", "Aún no hay puntos: ninguna regla coincidió con este lead.", "Por qué esta puntuación"]:
        assert spanish in page, spanish
    for english in ["Timeline", "No points yet", "Why this score", "Adjust the score by hand"]:
        assert english not in page, english
    adjust = _page(client, reverse("admin:scoring_lead_adjust", args=[lead.pk]))
    assert "Ajustar la puntuación de" in adjust
    assert "Puntos que sumar; negativos para restar." in adjust
    home = _page(client, reverse("admin:index"))
    for spanish in ["Enrutamiento y ventas", "Entrada de datos", "Informes", "Puntuación, nurturing y enrutamiento"]:
        assert spanish in home, spanish
    assert "Routing and sales" not in home
    assert "Scoring, nurture and routing" not in home


@pytest.mark.django_db
def test_the_admin_names_leadflow_s_models_in_spanish(admin_user: User) -> None:
    client = _spanish_admin(admin_user)
    home = _page(client, reverse("admin:index"))
    for spanish in ["Reglas de puntuación", "Grupos de puntuación", "Reglas de enrutamiento", "Secuencias", "Cuentas"]:
        assert spanish in home, spanish
    for english in ["Scoring rules", "Score groups", "Routing rules", "Sequences", "Accounts"]:
        assert english not in home, english
    # The failed logins (django-axes, which has no Spanish of its own) too.
    for spanish in ["Intentos de acceso", "Fallos de acceso", "Registros de acceso"]:
        assert spanish in home, spanish
    for english in ["Access attempts", "Access failures", "Access logs"]:
        assert english not in home, english
    AccessAttempt.objects.create(
        username="ana", ip_address="127.0.0.1", user_agent="", path_info="/admin/login/", failures_since_start=1
    )
    attempts = _page(client, reverse("admin:axes_accessattempt_changelist"))
    assert "Dirección IP" in attempts
    assert "IP Address" not in attempts
    add = _page(client, reverse("admin:scoring_scoringrule_add"))
    assert "Añadir regla de puntuación" in add
    assert "scoring rule" not in add.lower()


def test_every_field_of_leadflow_s_models_is_named_and_explained_through_gettext() -> None:
    """The admin's forms, list columns and filters print a field's verbose name and help
    text: a name made from the attribute's name ('occurred at') stays English."""
    unnamed = []
    for app in ["scoring", "routing", "nurture", "intake", "reports", "people"]:
        for model in django_apps.get_app_config(app).get_models():
            for field in [*model._meta.fields, *model._meta.many_to_many]:
                if field.auto_created:
                    continue
                help_text = getattr(field, "help_text", "")
                if not isinstance(field.verbose_name, Promise) or (help_text and not isinstance(help_text, Promise)):
                    unnamed.append(f"{model.__name__}.{field.name}")
    assert unnamed == []


def test_no_help_text_holds_what_a_page_would_take_for_a_tag() -> None:
    """The admin prints a field's help text as HTML: "attributes.<name>" showed as
    "attributes." (the browser took <name> for a tag), in both languages."""
    tags = []
    for language in ["en", "es"]:
        with translation.override(language):
            for app in ["scoring", "routing", "nurture", "intake", "reports", "people"]:
                for model in django_apps.get_app_config(app).get_models():
                    for field in [*model._meta.fields, *model._meta.many_to_many]:
                        if re.search(r"<[a-z]", str(getattr(field, "help_text", ""))):
                            tags.append(f"{language}: {model.__name__}.{field.name}")
    assert tags == []


@pytest.mark.django_db
def test_the_admin_s_forms_columns_and_filters_name_fields_in_spanish(admin_user: User) -> None:
    client = _spanish_admin(admin_user)
    lead = LeadFactory.create()
    form = _page(client, reverse("admin:scoring_lead_change", args=[lead.pk]))
    for spanish in ["Apellidos:", "Tamaño de la empresa:", "Etapa del ciclo de vida:", "Puntuación de perfil:"]:
        assert spanish in form, spanish
    for english in ["Last name:", "Company size:", "Lifecycle stage:", "Fit score:"]:
        assert english not in form, english
    raw = client.get(reverse("admin:scoring_lead_change", args=[lead.pk])).content.decode()
    assert "que las reglas leen como attributes.&lt;nombre&gt;." in raw  # shown as written, not taken for a tag
    InteractionFactory.create(lead=lead)
    interactions = _page(client, reverse("admin:scoring_interaction_changelist"))
    for spanish in ["Ocurrió el", "Puntuación", "esperando a ser puntuada", "Por origen"]:
        assert spanish in interactions, spanish
    for english in ["Occurred at", "Scoring", "waiting to be scored", "By source"]:
        assert english not in interactions, english
    with translation.override("en"):
        assert str(Lead._meta.get_field("last_name").verbose_name) == "last name"


@pytest.mark.django_db
def test_the_admin_s_counts_agree_with_their_number_in_both_languages(admin_user: User) -> None:
    one, two = ScoringRuleFactory.create(active=False), ScoringRuleFactory.create(active=False)

    def activate(client: Client, rules: list[int]) -> list[str]:
        response = client.post(
            reverse("admin:scoring_scoringrule_changelist"),
            {"action": "activate", "_selected_action": rules},
            follow=True,
        )
        return [str(message) for message in response.context["messages"]]

    spanish = _spanish_admin(admin_user)
    assert activate(spanish, [one.pk]) == [
        "1 regla activada. Las puntuaciones de perfil cambian cuando se repuntúan los leads."
    ]
    assert activate(spanish, [one.pk, two.pk]) == [
        "2 reglas activadas. Las puntuaciones de perfil cambian cuando se repuntúan los leads."
    ]
    english = Client(HTTP_HOST="localhost", headers={"accept-language": "en"})
    english.force_login(admin_user)
    assert activate(english, [one.pk]) == ["1 rule activated. Fit scores follow when leads are rescored."]
    assert activate(english, [one.pk, two.pk]) == ["2 rules activated. Fit scores follow when leads are rescored."]


@pytest.mark.django_db
def test_a_rep_s_card_names_the_causes_not_shown_one_by_one_in_spanish() -> None:
    rep = RepFactory.create()
    lead = LeadFactory.create()
    now = timezone.now()
    for n in range(7):
        rule = ScoringRuleFactory.create(name=f"Regla {n}")
        ScoreEntry.objects.create(
            lead=lead, dimension="engagement", delta=n + 1, cause="rule", rule=rule, occurred_at=now
        )
    QueueItemFactory.create(lead=lead, team=rep.team, entered_at=now)
    client = Client(headers={"accept-language": "es"})
    client.force_login(rep.user)
    page = _page(client, reverse("sales:queue"))
    assert "Otras causas" in page
    assert "Other causes" not in page


@pytest.mark.django_db
def test_a_lead_s_score_breakdown_and_ledger_name_their_dimensions_in_spanish(admin_user: User) -> None:
    lead = LeadFactory.create()
    now = timezone.now()
    ScoreEntry.objects.create(lead=lead, dimension="fit", delta=4, cause="manual", occurred_at=now)
    ScoreEntry.objects.create(lead=lead, dimension="engagement", delta=-2, cause="decay", occurred_at=now)
    page = _page(_spanish_admin(admin_user), reverse("admin:scoring_lead_change", args=[lead.pk]))
    for table in ["leadflow-breakdown", "leadflow-ledger"]:
        shown = page[page.index(f'class="{table}"') :]
        shown = shown[: shown.index("</table>")]
        assert "<td>Perfil</td>" in shown, table
        assert "<td>Interacción</td>" in shown, table
        assert "<td>fit</td>" not in shown, table
        assert "<td>engagement</td>" not in shown, table


@pytest.mark.django_db
def test_model_versions_replays_and_decay_policies_are_named_in_spanish(admin_user: User) -> None:
    client = _spanish_admin(admin_user)
    published = ModelVersion.objects.create(number=3, status=ModelVersion.Status.RETIRED)
    ModelVersion.objects.create(name="Más puntos por formularios")
    unnamed = ModelVersion.objects.create()
    versions = _page(client, reverse("admin:scoring_modelversion_changelist"))
    for spanish in [
        "Versión 3",
        "Borrador: Más puntos por formularios",
        f"Borrador n.º {unnamed.pk}",
        "Restaurar como borrador",
        "El modelo en vigor aún no tiene versión",
    ]:
        assert spanish in versions, spanish
    for english in ["Version 3", "Draft: ", "Draft #", "Restore as draft", "The live model has no version yet"]:
        assert english not in versions, english
    run = ReplayRun.objects.create(version=published, days=90)
    replays = _page(client, reverse("admin:scoring_replayrun_changelist"))
    assert f"Reproducción {run.pk}: Versión 3 sobre 90 días" in replays
    assert " over 90 days" not in replays
    run_page = _page(client, reverse("admin:scoring_replayrun_change", args=[run.pk]))
    assert "Reproducción de Versión 3 sobre los últimos 90 días" in run_page
    assert "Version 3" not in run_page
    policy = DecayPolicy.objects.first() or DecayPolicy(kind="linear")
    policy.kind = "linear"
    policy.save()
    policies = _page(client, reverse("admin:scoring_decaypolicy_changelist"))
    assert "Decaimiento: lineal" in policies
    assert "Decay: " not in policies


@pytest.mark.django_db
def test_the_admin_s_search_help_and_the_sequences_re_enrollment_are_in_spanish(admin_user: User) -> None:
    client = _spanish_admin(admin_user)
    leads = _page(client, reverse("admin:scoring_lead_changelist"))
    assert "Parte de un email, del nombre o los apellidos" in leads
    assert "Part of an email" not in leads
    suppressed = _page(client, reverse("admin:scoring_suppressedaddress_changelist"))
    assert "Una dirección de email completa" in suppressed
    assert "A whole email address" not in suppressed
    Sequence.objects.create(key="bienvenida", name="Bienvenida", reenroll=Sequence.Reenroll.NEVER)
    sequences = _page(client, reverse("admin:nurture_sequence_changelist"))
    assert "nunca: una vez por lead" in sequences
    assert "never: once per lead" not in sequences
    add = _page(client, reverse("admin:nurture_sequence_add"))
    for spanish in [
        "cuando terminó la inscripción anterior",
        "siempre: una inscripción abierta",
        "Se comprueban antes",
    ]:
        assert spanish in add, spanish
    for english in ["after the previous enrollment ended", "always: an open enrollment", "Checked before every step"]:
        assert english not in add, english


@pytest.mark.django_db
def test_an_account_s_moves_between_groups_say_their_cause_in_spanish(admin_user: User) -> None:
    account = Account.objects.create(name="Acme", domain="acme.com")
    hot = AccountGroup.objects.create(key="hot", name="Hot", min_score=80)
    now = timezone.now()
    for cause in ["rollup", "regroup"]:
        move = AccountTransition.objects.create(
            account=account,
            to_group=hot,
            direction="up",
            previous_total=10,
            total_score=90,
            cause=cause,
            occurred_at=now,
        )
    lead = LeadFactory.create(account=account)
    GroupTransition.objects.create(
        lead=lead, kind="account", account_transition=move, total_score=0, cause="regroup", occurred_at=now
    )
    page = _page(_spanish_admin(admin_user), reverse("admin:scoring_account_change", args=[account.pk]))
    moves = page[page.index('id="account-groups"') : page.index('id="account-ledger"')]
    assert "<td>Cambiaron las puntuaciones o los miembros de sus leads</td>" in moves
    assert "<td>Cambiaron los grupos de cuentas</td>" in moves
    assert "<td>rollup</td>" not in moves
    assert "<td>regroup</td>" not in moves
    timeline = _page(_spanish_admin(admin_user), reverse("admin:scoring_lead_change", args=[lead.pk]))
    assert "causa: Cambiaron los grupos de cuentas" in timeline
    assert "causa: regroup" not in timeline


@pytest.mark.django_db
def test_a_lead_s_own_moves_say_their_cause_in_spanish(admin_user: User) -> None:
    lead = LeadFactory.create()
    now = timezone.now()
    for kind, cause in [("score", "rule"), ("score", "regroup"), ("stage", "routing"), ("disqualified", "rejected")]:
        GroupTransition.objects.create(lead=lead, kind=kind, total_score=0, cause=cause, occurred_at=now)
    timeline = _page(_spanish_admin(admin_user), reverse("admin:scoring_lead_change", args=[lead.pk]))
    for spanish in [
        "causa: Regla",
        "causa: Cambiaron los grupos de puntuación",
        "causa: Enrutamiento",
        "causa: Rechazado",
    ]:
        assert spanish in timeline, spanish
    for stored in ["rule", "regroup", "routing", "rejected"]:
        assert f"causa: {stored}" not in timeline, stored


@pytest.mark.django_db
def test_the_overview_s_histograms_and_a_rule_s_conditions_read_in_spanish(admin_user: User) -> None:
    for score in (3, 27, 55):
        LeadFactory.create(engagement_score=score, total_score=score)
    client = _spanish_admin(admin_user)
    overview = _page(client, reverse("reports:overview"))
    assert "0 a 4" in overview  # bins of 5 points for scores from 3 to 55
    assert " to " not in overview
    rule_form = _page(client, reverse("admin:routing_routingrule_add"))
    assert "Condiciones (la regla actúa solo sobre los leads que cumplen todas)" in rule_form
    assert "todas)s" not in rule_form
