"""A Spanish browser gets Leadflow in Spanish, and a person can switch to English
for good (their preference follows them)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import Permission

from people.models import Preference
from scoring import model_file
from scoring import services as scoring_services
from scoring.models import ScoringRule
from scoring.services import versions
from tests.browser.signing_in import site_sign_in_in_spanish
from tests.browser.test_reports import CANVAS_DRAWN
from tests.factories import LeadFactory
from tests.reports.closed_loop_data import closed_loop_history, reader
from tests.reports.dataset import overview_data
from tests.routing.factories import PASSWORD, QueueItemFactory, RepFactory, group, marketer
from tests.scoring.test_replay import DRAFT, history
from tests.scoring.test_replay_admin import marketing_user

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_spanish_browser_logs_in_in_spanish_and_switches_to_english(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    rep = RepFactory.create(user__username="maria")
    QueueItemFactory.create(lead=LeadFactory.create(first_name="Grace"), team=rep.team)

    context = browser.new_context(locale="es-CR")
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("heading", name="Iniciar sesión").is_visible()
    page.get_by_label("Usuario").fill("maria")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(f"{base}/sales/")
    assert page.get_by_role("link", name="Cola de ventas").is_visible()
    # The queue itself speaks Spanish: headings, buttons, states; none of its English.
    card = page.locator("li.card").first
    for spanish in ["Por qué esta puntuación", "Actividad reciente", "Siguiente paso", "Sin tomar", "Sin grupo"]:
        assert spanish.lower() in card.inner_text().lower(), spanish
    assert card.get_by_role("button", name="Tomar").is_visible()
    text = page.locator("body").inner_text().lower()
    for english in ["Why this score", "Recent activity", "Next step", "Unclaimed", "No group", "Claim", "in queue"]:
        assert english.lower() not in text, english
    assert page.get_by_role("button", name="Cerrar sesión").is_visible()
    assert page.get_by_label("Idioma").input_value() == "es"

    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("button", name="Cambiar").click()
    page.wait_for_url(f"{base}/sales/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("link", name="Sales queue").is_visible()
    assert Preference.objects.get(user=rep.user).language == "en"
    context.close()


def test_a_spanish_marketer_reads_the_overview_in_spanish(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    reading = Permission.objects.get(content_type__app_label="reports", codename="view_reports")
    group("Marketing").permissions.add(reading)
    marketer(username="lucia")
    overview_data()

    page = browser.new_context(locale="es-CR").new_page()
    site_sign_in_in_spanish(page, base, "lucia", lands_on="/reports/")
    page.wait_for_selector("body[data-charts=drawn]")
    assert page.get_by_role("heading", name="Resumen").is_visible()
    assert page.get_by_role("heading", name="Leads en cada grupo de puntuación ahora").is_visible()
    assert page.get_by_role("heading", name="De lead a cliente").is_visible()
    assert page.get_by_role("link", name="Descargar CSV").first.is_visible()
    text = page.locator("main").inner_text().lower()
    for english in [
        "Leads in each score group now",
        "From lead to customer",
        "Download CSV",
        "Where your leads are",
        "Share of all leads",
        "Leads waiting for sales",
        "Latest moves between score groups",
    ]:
        assert english.lower() not in text, english
    # The funnel's steps in Spanish, in its table.
    assert "Calificado por marketing (MQL)" in page.locator("#section-funnel").inner_text()


# What Leadflow's own templates and forms say in English on the three pages the issue
# names; a Spanish reader sees none of it.
ENGLISH_ON_THE_OVERVIEW = [
    "Leads in each score group now",
    "From lead to customer",
    "Download CSV",
    "Share of all leads",
    "Leads waiting for sales",
    "no SLA",
    "(to date)",
]
ENGLISH_ON_THE_RULE_FORM = [
    "A rule worth 0 points does nothing",
    "A fit rule needs at least one condition on the lead.",
    "Negative points subtract.",
    "Stable name used in model files.",
    "Leave empty for fit rules.",
    "Caps (engagement only)",
    "Validity",
    "Interaction types",
    "all conditions",
    "At most this many times per lead.",
    "Lists: comma-separated.",
]
ENGLISH_ON_THE_QUEUE = ["Why this score", "Recent activity", "Next step", "Unclaimed", "Claim", "Sales queue"]


def test_a_spanish_marketer_reads_the_overview_a_refused_rule_and_the_sales_queue_in_spanish(
    browser: Browser, live_server: object
) -> None:
    base = str(live_server)
    reading = Permission.objects.get(content_type__app_label="reports", codename="view_reports")
    group("Marketing").permissions.add(reading)
    # A marketer who also works leads in sales: one person, the three pages.
    rep = RepFactory.create(user=marketer(username="sofia"))
    QueueItemFactory.create(lead=LeadFactory.create(first_name="Grace"), team=rep.team)
    overview_data()

    page = browser.new_context(locale="es-ES").new_page()
    page.goto(f"{base}/accounts/login/?next=/reports/")
    page.get_by_label("Usuario").fill("sofia")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(f"{base}/reports/")
    page.wait_for_selector("body[data-charts=drawn]")
    assert page.get_by_role("heading", name="Leads en cada grupo de puntuación ahora").is_visible()
    shown = page.locator("main").inner_text()
    for english in ENGLISH_ON_THE_OVERVIEW:
        assert english not in shown, english
    # Its figures and dates as Spanish writes them: "33,3 %", "03/12/2026".
    shares = page.locator("#section-groups td").all_inner_texts()
    assert "33,3\u00a0%" in shares, shares  # two of six leads
    assert not [share for share in shares if re.search(r"\d\.\d", share)], shares
    days = page.locator("#section-trend tbody th").all_text_contents()
    assert days, days
    assert all(re.fullmatch(r"\d{2}/\d{2}/\d{4}", day) for day in days), days

    # A fit rule worth 0 points and with no condition: refused, and told why in Spanish.
    page.goto(f"{base}/admin/scoring/scoringrule/add/")
    page.get_by_label("Nombre:", exact=True).fill("Tiendas de juguetes")
    page.locator("#id_dimension").select_option("fit")
    page.get_by_label("Puntos:", exact=True).fill("0")
    page.locator("input[name=_save]").click()
    errors = page.locator(".errornote")
    errors.wait_for()
    assert "Por favor, corrija" in errors.inner_text()
    form = page.locator("#content-main")
    assert (
        "Una regla de 0 puntos no hace nada; dale puntos positivos o negativos."
        in form.locator(".field-points .errorlist").inner_text()
    )
    assert "Una regla de perfil necesita al menos una condición sobre el lead." in form.inner_text()
    for spanish in ["Vigencia", "Topes (solo interacción)", "Tipos de interacción", "Los puntos negativos restan."]:
        assert form.get_by_text(spanish).first.is_visible(), spanish
    shown = form.inner_text()
    for english in ENGLISH_ON_THE_RULE_FORM:
        assert english not in shown, english
    assert not ScoringRule.objects.exists()

    page.goto(f"{base}/sales/")
    card = page.locator("li.card").first
    assert card.get_by_role("button", name="Tomar").is_visible()
    assert "por qué esta puntuación" in card.inner_text().lower()  # shown in capitals
    since = card.locator(".age").get_attribute("title") or ""
    assert re.fullmatch(r"En la cola desde el \d{2}/\d{2}/\d{4} \d{2}:\d{2} \(\w+\)", since), since
    shown = page.locator("body").inner_text().lower()
    for english in ENGLISH_ON_THE_QUEUE:
        assert english.lower() not in shown, english


# What the reports' own tables, notes and charts said in English before they were translated.
ENGLISH_ON_THE_RULE_LIFT = [
    "Leads scored",
    "Converted (scored)",
    "Conversion (not scored)",
    "What the figures mean",
    "Leads: those created in the date range",
    "the conversion of leads it did not score",
    "The dates select by",
]
ENGLISH_ON_THE_GRID = ["Engagement 1", "Fit A", "or more", "below", "Fit bands", "A1 is the best cell"]
ENGLISH_ON_THE_PREDICTIVE_PAGE = ["No model is trained yet", "leads won or lost so far", "the next training needs"]


def test_a_spanish_marketer_reads_the_reports_tables_notes_and_charts_in_spanish(
    browser: Browser, live_server: object
) -> None:
    base = str(live_server)
    closed_loop_history()
    reader(username="ines")

    page = browser.new_context(locale="es-ES").new_page()
    page.goto(f"{base}/accounts/login/?next=/reports/all/")
    page.get_by_label("Usuario").fill("ines")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(f"{base}/reports/all/")

    page.goto(f"{base}/reports/rule-lift/")
    page.wait_for_function("document.getElementById('report-chart-canvas').dataset.drawn")
    headers = page.locator("#report-table thead th").all_text_contents()
    assert headers[:5] == ["Regla", "Dimensión", "Puntos", "Activa", "Leads puntuados"]
    assert headers[-1] == "Impacto"
    legend = json.loads(page.locator("#report-chart").text_content() or "{}")["datasets"][0]["label"]
    assert legend == "Impacto (\u00d7 la conversión de los leads que no puntuó)"
    notes = page.locator(".notes").inner_text()
    assert "Qué significan las cifras" in notes
    assert "Por encima de \u00d71,00 la regla elige compradores" in notes
    assert "Las fechas seleccionan por la creación del lead." in page.locator(".filter-note").inner_text()
    shown = page.locator("body").inner_text()
    for english in ENGLISH_ON_THE_RULE_LIFT:
        assert english not in shown, english
    # The CSV is the page's table, headings in the reader's language too.
    href = page.get_attribute("#csv-link", "href")
    exported = page.request.get(f"{base}{href}", headers={"Accept-Language": "es-ES,es"}).text()
    assert exported.splitlines()[0].startswith("Regla,Dimensión,Puntos,Activa,Leads puntuados")

    page.goto(f"{base}/reports/fit-engagement/")
    grid = page.locator("table.heat-grid").inner_text()
    for spanish in ["Interacción 1", "Perfil A", "15 o más", "menos de 5"]:
        assert spanish in grid, spanish
    assert (
        "Franjas de perfil: A 15 o más, B 10\u201314, C 5\u20139, D menos de 5 puntos."
        in page.locator(".notes").inner_text()
    )
    shown = page.locator("body").inner_text()
    for english in ENGLISH_ON_THE_GRID:
        assert english not in shown, english

    page.goto(f"{base}/reports/predictive/")
    shown = page.locator("main").inner_text()
    assert "Aún no hay ningún modelo entrenado." in shown
    assert "ganados o perdidos hasta ahora; el próximo entrenamiento necesita" in shown
    for english in ENGLISH_ON_THE_PREDICTIVE_PAGE:
        assert english not in shown, english


ENGLISH_ON_THE_REPLAY = [
    "Replay of",
    "Leads per group",
    "Leads that would move",
    "Separation of won and lost leads",
    "Rules whose points change most",
    "Some leads that would move",
    "Live model",
    "would change group",
]


def test_a_spanish_marketer_reads_a_replay_in_spanish(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    history()
    draft = versions.draft_import(spec=model_file.load_data(DRAFT), user=None, name="formularios")
    run = scoring_services.replay_start(version=draft, background=False)
    scoring_services.replay_run(run_id=run.pk)
    user = marketing_user()

    page = browser.new_context(locale="es-ES").new_page()
    page.goto(f"{base}/admin/login/?next=/admin/scoring/replayrun/{run.pk}/change/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base}/admin/scoring/replayrun/{run.pk}/change/")
    content = page.locator("#content")
    heading = page.locator("#content h1").inner_text()
    assert heading.startswith("Reproducción de "), heading
    assert heading.endswith(" sobre los últimos 90 días"), heading
    for spanish in [
        "Leads por grupo",
        "Leads que cambiarían",
        "Separación de leads ganados y perdidos",
        "Modelo en vigor",
    ]:
        assert spanish in content.inner_text(), spanish
    assert page.locator("#replay-status").inner_text() == "Terminado"
    legend = json.loads(page.locator("#replay-roc-data").text_content() or "{}")["words"]
    assert legend["live"] == "Modelo en vigor"
    page.wait_for_function(f"({CANVAS_DRAWN})(document.getElementById('replay-roc'))", timeout=10_000)
    shown = content.inner_text()
    for english in ENGLISH_ON_THE_REPLAY:
        assert english not in shown, english
    # The counts in words that do not agree with them ("1 perdidos"): the count follows the word.
    assert re.search(r"\(ganados: [\d.]+, perdidos: [\d.]+\)", shown), shown
