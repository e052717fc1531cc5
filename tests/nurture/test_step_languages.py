"""A step in Spanish and English: each lead gets the version in its `language`
attribute, else the site's language; edited in the admin, kept in the sequence file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client

from nurture import services
from nurture.models import Step
from nurture.sequence_file import SequenceFileError, dump_sequences, load_text
from tests.factories import LeadFactory
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.nurture.test_admin import sequence_form
from tests.nurture.test_sending import MINUTE, T0, enroll, text_part

pytestmark = pytest.mark.django_db

ROOT = Path(django_settings.BASE_DIR)

SPANISH = {"subject": "Hola {{ lead.first_name }}", "text": "Bienvenida a la juguetería, {{ lead.first_name }}."}


def bilingual_step(**kwargs: Any) -> Step:
    return StepFactory.create(
        sequence=SequenceFactory.create(),
        position=1,
        wait_days=0,
        subject_template="Hello {{ lead.first_name }}",
        text_template="Welcome to the toy store, {{ lead.first_name }}.",
        html_template="",
        translations={"es": SPANISH},
        **kwargs,
    )


@pytest.mark.parametrize(
    ("language", "subject"),
    [
        ("es", "Hola Ana"),
        ("es-CR", "Hola Ana"),
        ("ES_es", "Hola Ana"),
        ("en", "Hello Ana"),
        ("fr", "Hello Ana"),  # not a language the step is written in: the site's (English)
        (None, "Hello Ana"),
    ],
)
def test_each_lead_gets_the_step_in_its_language(smtp: Sink, language: str | None, subject: str) -> None:
    step = bilingual_step()
    lead = LeadFactory.create(first_name="Ana", attributes={"language": language} if language else {})
    enroll(lead, step.sequence)

    assert services.deliveries_send_due(now=T0 + MINUTE).sent == 1

    [message] = smtp.messages
    assert message["Subject"] == subject
    assert ("juguetería" in text_part(message)) is subject.startswith("Hola")
    # Leadflow's own footer is in the language of the version the lead got.
    spanish = subject.startswith("Hola")
    assert ("Date de baja con un clic" in text_part(message)) is spanish
    assert ("Unsubscribe with one click" in text_part(message)) is not spanish


def test_a_lead_without_a_language_gets_the_site_s(smtp: Sink, settings: Any) -> None:
    settings.LANGUAGE_CODE = "es"
    step = bilingual_step(language="en")  # written in English, with a Spanish version
    enroll(LeadFactory.create(first_name="Ana"), step.sequence)
    enroll(LeadFactory.create(first_name="Bob", attributes={"language": "en"}), step.sequence)

    assert services.deliveries_send_due(now=T0 + MINUTE).sent == 2

    assert sorted(str(m["Subject"]) for m in smtp.messages) == ["Hello Bob", "Hola Ana"]


def test_a_step_written_in_spanish_with_an_english_version() -> None:
    step = StepFactory.build(
        language="es",
        subject_template=SPANISH["subject"],
        text_template=SPANISH["text"],
        html_template="",
        translations={"en": {"subject": "Hello", "text": "Welcome"}},
    )
    assert step.version_for("es").subject == SPANISH["subject"]
    assert step.version_for("en").subject == "Hello"
    assert step.version_for("de").subject == "Hello"  # the site's language is English
    assert step.version_for(None).language == "en"


def test_the_admin_saves_a_spanish_version_and_checks_it(admin_client: Client) -> None:
    bad = sequence_form(version_es_subject="Hola", version_es_text="Hola {% if lead.first_name %}")
    response = admin_client.post("/admin/nurture/sequence/add/", bad)
    assert response.status_code == 200
    assert "Template error:" in response.content.decode()
    assert not Step.objects.exists()

    missing_text = sequence_form(version_es_subject="Hola")
    response = admin_client.post("/admin/nurture/sequence/add/", missing_text)
    assert "The Español version needs a text body." in response.content.decode()

    own = sequence_form(version_en_subject="Hello", version_en_text="Hi")
    response = admin_client.post("/admin/nurture/sequence/add/", own)
    assert "English is this step&#x27;s own language" in response.content.decode()

    good = sequence_form(version_es_subject=SPANISH["subject"], version_es_text=SPANISH["text"])
    response = admin_client.post("/admin/nurture/sequence/add/", good)
    assert response.status_code == 302, response.content.decode()[:2000]
    step = Step.objects.get()
    assert step.translations == {"es": SPANISH}

    page = admin_client.get(f"/admin/nurture/sequence/{step.sequence_id}/change/").content.decode()
    assert "In Español (optional: leads whose language is es get it)" in page
    assert "Bienvenida a la juguetería" in page


FILE = """
leadflow_nurture: 1
sequences:
  - key: welcome
    name: Welcome
    steps:
      - subject: "Hello {{ lead.first_name }}"
        text: "Welcome"
        translations:
          es:
            subject: "Hola {{ lead.first_name }}"
            text: "Bienvenida"
"""


def test_the_sequence_file_keeps_the_versions_and_round_trips() -> None:
    spec = load_text(FILE)
    assert spec.sequences[0].steps[0].translations == (("es", "Hola {{ lead.first_name }}", "Bienvenida", ""),)
    services.sequences_import(spec=spec)
    step = Step.objects.get()
    assert step.translations == {"es": {"subject": "Hola {{ lead.first_name }}", "text": "Bienvenida"}}
    [data] = dump_sequences(spec.sequences)
    assert data["steps"][0]["translations"] == {"es": {"subject": "Hola {{ lead.first_name }}", "text": "Bienvenida"}}


def test_the_sequence_file_names_a_bad_version() -> None:
    with pytest.raises(SequenceFileError, match=r"^sequences\[0\]\.steps\[0\]\.translations\.es\.text: required$"):
        load_text(FILE.replace('            text: "Bienvenida"\n', ""))
    spec = load_text(FILE.replace("          es:", "          xx:"))
    with pytest.raises(
        services.SequenceImportError,
        match=r"translations\.xx: 'xx' is not one of the languages a step may be written in: en, es$",
    ):
        services.sequences_import(spec=spec)


def test_a_language_the_site_does_not_speak_is_refused_naming_those_it_does() -> None:
    spec = load_text(FILE.replace("        translations:", "        language: de\n        translations:"))
    with pytest.raises(services.SequenceImportError) as refused:
        services.sequences_import(spec=spec)
    assert refused.value.errors == [
        "sequences[0].steps[0].language: 'de' is not one of the languages a step may be written in: en, es"
    ]


def test_a_version_in_the_site_s_language_of_a_step_naming_none_is_refused_at_its_place(settings: Any) -> None:
    """The step is in the site's language (en): its en version would never be sent."""
    settings.LANGUAGE_CODE = "en"
    spec = load_text(FILE.replace("          es:", "          en:"))
    with pytest.raises(services.SequenceImportError) as refused:
        services.sequences_import(spec=spec)
    assert refused.value.errors == [
        "sequences[0].steps[0].translations.en: en is this step's own language (the site's, the step naming no "
        "`language`): write it in the step's subject, text and html"
    ]
    assert not Step.objects.exists()

    settings.LANGUAGE_CODE = "es"
    services.sequences_import(spec=load_text(FILE.replace("          es:", "          en:")))
    assert set(Step.objects.get().translations) == {"en"}


def test_the_admin_refuses_a_language_the_site_does_not_speak_naming_those_it_does(admin_client: Client) -> None:
    response = admin_client.post("/admin/nurture/sequence/add/", sequence_form(language="de"))
    assert response.status_code == 200
    assert "de is not one of the languages a step may be written in: en, es" in response.content.decode()
    assert not Step.objects.exists()


def test_the_toy_store_s_welcome_steps_ship_in_spanish_too() -> None:
    spec = load_text((ROOT / "examples" / "toy_store_nurture.yaml").read_text())
    welcome, download = spec.sequences[0].steps[:2]
    assert welcome.translations[0][0] == "es"
    assert "Juguetería" in welcome.translations[0][2]
    assert download.translations[0][1].startswith("Descarga gratis")


def test_the_toy_store_s_english_steps_import_on_a_spanish_site_too(settings: Any) -> None:
    """They say they are in English: on a site in Spanish, their Spanish versions are sent."""
    settings.LANGUAGE_CODE = "es"
    call_command("scoring_model_import", "--publish", str(ROOT / "examples" / "toy_store.yaml"))
    services.sequences_import(spec=load_text((ROOT / "examples" / "toy_store_nurture.yaml").read_text()))
    welcome = Step.objects.get(sequence__key="nurture", position=1)
    assert welcome.version_for(None).subject.startswith("{{ lead.first_name|default:'Hola' }}")
