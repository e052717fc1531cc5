"""The marketer's admin: pages render, rules read as sentences, bad rules are refused."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models.signals import pre_save
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse

from intake.models import ApiKey
from scoring import services
from scoring.models import Lead, RescoreJob, RuleCondition, ScoreEntry, ScoringRule
from scoring.rules import Dimension
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory, ScoringRuleFactory, fit_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def text(response: HttpResponseBase) -> str:
    return html.unescape(getattr(response, "content", b"").decode())


def rule_form(**fields: Any) -> dict[str, Any]:
    """A POST of the rule add form with its conditions inline (prefix: conditions)."""
    conditions = fields.pop("conditions", [])
    data: dict[str, Any] = {
        "name": "Toy shops",
        "key": "toy-shops",
        "description": "",
        "dimension": "fit",
        "points": "5",
        "match": "all",
        "active": "on",
        "conditions-TOTAL_FORMS": str(len(conditions)),
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
    }
    data.update(fields)
    for index, (field, operator, value) in enumerate(conditions):
        data[f"conditions-{index}-position"] = str(index)
        data[f"conditions-{index}-field"] = field
        data[f"conditions-{index}-operator"] = operator
        data[f"conditions-{index}-value_text"] = value
    return data


def test_rules_are_listed_as_sentences(admin: Client) -> None:
    fit_rule(5, "industry", "one_of", ["Toys", "Retail"], name="Toy shops")
    ScoringRuleFactory.create(name="Opens", points=-2, interaction_types=["email_open"])
    page = text(admin.get(reverse("admin:scoring_scoringrule_changelist")))
    assert "+5 when industry is one of Toys, Retail" in page
    assert "-2" in page


def test_a_valid_rule_is_saved_with_its_typed_values(admin: Client) -> None:
    assert admin.get(reverse("admin:scoring_scoringrule_add")).status_code == 200
    response = admin.post(
        reverse("admin:scoring_scoringrule_add"),
        rule_form(conditions=[("industry", "one_of", "Toys, Retail"), ("company_size", "between", "10-50")]),
    )
    assert response.status_code == 302, text(response)[:3000]
    rule = ScoringRule.objects.get(key="toy-shops")
    assert [(c.field, c.operator, c.value) for c in rule.conditions.order_by("position")] == [
        ("industry", "one_of", ["Toys", "Retail"]),
        ("company_size", "between", [10, 50]),
    ]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (("shoe_size", "equals", "42"), "Unknown lead field 'shoe_size'"),
        (("company_size", "gt", "lots"), "'lots' is not a number."),
        (("company_size", "between", "ten to fifty"), "is not a range; write it as 10-50 or 10, 50."),
        (("industry", "is_set", "Toys"), "takes no value; leave it empty."),
    ],
)
def test_a_bad_condition_is_refused_on_its_field(admin: Client, condition: tuple[str, str, str], message: str) -> None:
    response = admin.post(reverse("admin:scoring_scoringrule_add"), rule_form(conditions=[condition]))
    assert response.status_code == 200
    assert message in text(response)
    assert not ScoringRule.objects.exists()
    assert not RuleCondition.objects.exists()


def test_a_fit_rule_needs_a_condition_and_no_cap(admin: Client) -> None:
    response = admin.post(reverse("admin:scoring_scoringrule_add"), rule_form())
    assert "A fit rule needs at least one condition on the lead." in text(response)
    response = admin.post(
        reverse("admin:scoring_scoringrule_add"),
        rule_form(cap_count="3", conditions=[("industry", "equals", "Toys")]),
    )
    assert "Caps apply to engagement rules only" in text(response)
    assert not ScoringRule.objects.exists()


def test_an_engagement_rule_needs_interaction_types(admin: Client) -> None:
    response = admin.post(reverse("admin:scoring_scoringrule_add"), rule_form(dimension="engagement", points="2"))
    assert "Choose at least one interaction type." in text(response)
    response = admin.post(
        reverse("admin:scoring_scoringrule_add"),
        rule_form(dimension="engagement", points="2", interaction_types=["email_open"], cap_count="5"),
    )
    assert response.status_code == 302
    assert ScoringRule.objects.get().cap_count == 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Una regla de perfil necesita al menos una condición sobre el lead."),
        ({"conditions": [("shoe_size", "equals", "42")]}, "Campo del lead desconocido: 'shoe_size'."),
        ({"conditions": [("company_size", "gt", "lots")]}, "'lots' no es un número."),
        ({"conditions": [("industry", "is_set", "Toys")]}, "'is_set' no lleva valor; déjalo vacío."),
        ({"points": "0", "conditions": [("industry", "equals", "Toys")]}, "Una regla de 0 puntos no hace nada"),
        ({"dimension": "engagement", "points": "2"}, "Elige al menos un tipo de interacción."),
    ],
)
def test_a_spanish_marketer_reads_the_rule_form_and_its_errors_in_spanish(
    admin_user: Any, fields: dict[str, Any], message: str
) -> None:
    client = Client(HTTP_HOST="localhost", headers={"accept-language": "es-CR,es;q=0.9"})
    client.force_login(admin_user)
    page = text(client.post(reverse("admin:scoring_scoringrule_add"), rule_form(**fields)))
    assert message in page
    labels = ["Dimensión", "Puntos", "Vigencia", "Topes (solo interacción)", "Condiciones", "Tipos de interacción"]
    for spanish in labels:
        assert spanish in page, spanish
    for english in ["Caps (engagement only)", "Validity", "Leave empty for fit rules.", "Negative points subtract."]:
        assert english not in page, english
    assert not ScoringRule.objects.exists()


def test_a_rule_with_history_cannot_be_deleted(admin: Client) -> None:
    rule = ScoringRuleFactory.create(points=2, interaction_types=["email_open"])
    InteractionFactory.create()
    services.interactions_score_pending()
    assert ScoreEntry.objects.filter(rule=rule).exists()
    assert admin.get(reverse("admin:scoring_scoringrule_delete", args=[rule.pk])).status_code == 403


def test_saving_a_group_regroups_leads_in_a_background_job_with_progress(admin: Client) -> None:
    lead = LeadFactory.create()
    services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=50, note="fair")
    response = admin.post(
        reverse("admin:scoring_scoregroup_add"),
        {"name": "Nurture", "key": "nurture", "min_score": "40", "description": ""},
        follow=True,
    )
    job = RescoreJob.objects.get()
    assert f"Regrouping 1 lead in the background: see Rescore jobs (job {job.pk})" in text(response)
    # The request only started the job: the workers regroup.
    assert (job.kind, job.status, job.total) == ("regroup", "queued", 1)
    assert Lead.objects.get(pk=lead.pk).score_group is None
    services.rescore_job_run(job_id=job.pk)
    lead.refresh_from_db()
    assert lead.score_group is not None
    assert lead.score_group.key == "nurture"
    job.refresh_from_db()
    assert (job.status, job.done, job.entries) == ("done", 1, 1)
    page = text(admin.get(reverse("admin:scoring_rescorejob_changelist")))
    assert f"Regroup {job.pk}: 1 of 1 leads (Done)" in page
    assert "Nurture" in text(admin.get(reverse("admin:scoring_scoregroup_changelist")))


def test_deleting_groups_one_or_selected_regroups_alike(admin: Client) -> None:
    low, high, top = (ScoreGroupFactory.create(key=k, min_score=m) for k, m in [("low", 10), ("high", 40), ("top", 90)])
    lead = LeadFactory.create()
    services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=50, note="fair")
    assert Lead.objects.get(pk=lead.pk).score_group == high
    response = admin.post(reverse("admin:scoring_scoregroup_delete", args=[top.pk]), {"post": "yes"})
    assert response.status_code == 302
    response = admin.post(
        reverse("admin:scoring_scoregroup_changelist"),
        {"action": "delete_selected", "_selected_action": [str(high.pk)], "post": "yes"},
    )
    assert response.status_code == 302
    jobs = list(RescoreJob.objects.order_by("pk"))
    assert [job.kind for job in jobs] == ["regroup", "regroup"]
    for job in jobs:
        services.rescore_job_run(job_id=job.pk)
    assert Lead.objects.get(pk=lead.pk).score_group == low


def test_leads_can_be_searched_and_filtered(admin: Client) -> None:
    nurture = ScoreGroupFactory.create(key="nurture", min_score=40)
    warm = LeadFactory.create(email="warm@example.com", lifecycle_stage="mql")
    cold = LeadFactory.create(email="cold@example.com")
    services.lead_adjust_score(lead_id=warm.pk, dimension=Dimension.ENGAGEMENT, delta=45, note="fair")
    url = reverse("admin:scoring_lead_changelist")
    for query in [
        {"q": "warm@"},
        {"score_group__id__exact": str(nurture.pk)},
        {"lifecycle_stage__exact": "mql"},
        {"score": "40-59"},
    ]:
        page = text(admin.get(url, query))
        assert "warm@example.com" in page, query
        assert "cold@example.com" not in page, query
    assert "cold@example.com" in text(admin.get(url, {"score": "0-39"}))
    assert cold.pk


def test_a_lead_page_explains_its_score(admin: Client) -> None:
    fit_rule(8, "city", "equals", "San José", name="Lives in San José")
    ScoringRuleFactory.create(name="Email opens", points=2, interaction_types=["email_open"])
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"city": "San José"})
    InteractionFactory.create_batch(3, lead=lead, occurred_at=datetime(2026, 11, 2, tzinfo=UTC))
    services.interactions_score_pending()
    services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.FIT, delta=-1, note="Competitor's employee")
    page = text(admin.get(reverse("admin:scoring_lead_change", args=[lead.pk])))
    for expected in [
        "Lives in San José",
        "+8 when city is San José",
        "Email opens",
        "+6",
        "Competitor's employee",
        "Total (fit 7 + engagement 6)",
    ]:
        assert expected in page, expected


def breakdown_rows(page: str) -> list[list[str]]:
    """The cells of each row of the lead page's breakdown by rule, as a person reads them."""
    table = page.split('<table class="leadflow-breakdown">', 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in table.split("<tr>")[2:]
    ]


def test_after_a_rescore_the_breakdown_shows_each_rule_once_with_its_net_points(admin: Client) -> None:
    toys = fit_rule(8, "city", "equals", "San José", name="Lives in San José")
    opens = ScoringRuleFactory.create(name="Email opens", points=2, interaction_types=["email_open"])
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"city": "San José"})
    InteractionFactory.create_batch(3, lead=lead, occurred_at=datetime(2026, 11, 2, tzinfo=UTC))
    services.interactions_score_pending()
    # The marketer changes both rules, then rescores the lead from its history.
    ScoringRule.objects.filter(pk=toys.pk).update(points=10)
    ScoringRule.objects.filter(pk=opens.pk).update(points=3, cap_count=2)
    job = services.rescore_job_start(lead_ids=[lead.pk], background=False)
    services.rescore_job_run(job_id=job.pk)
    assert ScoreEntry.objects.filter(lead=lead, cause="rescore").count() == 4  # fit, and each of the 3 opens

    page = text(admin.get(reverse("admin:scoring_lead_change", args=[lead.pk])))
    rows = breakdown_rows(page)
    assert [(r[0], r[3], r[4]) for r in rows] == [("Lives in San José", "1", "+10"), ("Email opens", "2", "+6")]
    assert "Total (fit 10 + engagement 6)" in page


def test_editing_a_lead_in_the_admin_rescores_its_fit(admin: Client) -> None:
    fit_rule(8, "city", "equals", "San José", name="Lives in San José")
    lead = LeadFactory.create(city="Fresno")
    url = reverse("admin:scoring_lead_change", args=[lead.pk])
    form = admin.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update({"city": "San José", "attributes": "{}", "email": lead.email})
    response = admin.post(url, data)
    assert response.status_code == 302, text(response)[:3000]
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.fit_score == 8
    assert ScoreEntry.objects.filter(lead=lead, dimension="fit").count() == 1


def test_saving_a_lead_keeps_scores_a_worker_changed_meanwhile(admin: Client) -> None:
    lead = LeadFactory.create(city="Fresno")
    url = reverse("admin:scoring_lead_change", args=[lead.pk])
    form = admin.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update({"first_name": "Ada", "attributes": "{}", "email": lead.email})

    def worker_scores_it(sender: type[Lead], instance: Lead, **kwargs: object) -> None:
        """A worker commits a score change after the admin read the lead, before it saves."""
        if instance.pk == lead.pk and not ScoreEntry.objects.filter(lead=lead).exists():
            services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=12, note="worker")

    pre_save.connect(worker_scores_it, sender=Lead)
    try:
        response = admin.post(url, data)
    finally:
        pre_save.disconnect(worker_scores_it, sender=Lead)

    assert response.status_code == 302, text(response)[:3000]
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.first_name, lead.engagement_score) == ("Ada", 12)
    assert lead.engagement_score == sum(ScoreEntry.objects.filter(lead=lead).values_list("delta", flat=True))


def test_interactions_and_the_ledger_are_read_only(admin: Client) -> None:
    assert admin.get(reverse("admin:scoring_interaction_add")).status_code == 403
    assert admin.get(reverse("admin:scoring_scoreentry_add")).status_code == 403
    assert admin.get(reverse("admin:scoring_interaction_changelist")).status_code == 200
    assert admin.get(reverse("admin:scoring_scoreentry_changelist")).status_code == 200


def test_an_api_key_is_shown_once_and_can_be_revoked(admin: Client) -> None:
    response = admin.post(
        reverse("admin:intake_apikey_add"), {"name": "Website", "scopes": ["events:write"]}, follow=True
    )
    key = ApiKey.objects.get()
    shown = [str(m) for m in response.context["messages"] if f"lf_{key.prefix}_" in str(m)]
    assert len(shown) == 1
    assert "not shown again" in shown[0]
    assert f"lf_{key.prefix}_" not in text(admin.get(reverse("admin:intake_apikey_change", args=[key.pk])))
    admin.post(reverse("admin:intake_apikey_changelist"), {"action": "revoke", "_selected_action": [str(key.pk)]})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_api_key_commands_print_the_key_and_revoke_it(db: None) -> None:
    out = StringIO()
    call_command("api_key_create", "CRM", stdout=out, stderr=StringIO())
    issued = out.getvalue().strip()
    assert issued.startswith("lf_")
    call_command("api_key_revoke", issued, stdout=StringIO())
    assert ApiKey.objects.get().revoked_at is not None
    with pytest.raises(CommandError):
        call_command("api_key_revoke", "nope")


def test_a_spanish_reader_is_told_in_spanish_why_a_decay_policy_cannot_be_used(admin_user: Any) -> None:
    spanish = Client(headers={"accept-language": "es"})
    spanish.force_login(admin_user)
    policy = {"points_per_day": "0", "after_days": "14", "half_life_days": "0", "window_days": "0", "floor": "0"}

    linear = text(spanish.post(reverse("admin:scoring_decaypolicy_add"), {**policy, "kind": "linear"}))
    half_life = text(spanish.post(reverse("admin:scoring_decaypolicy_add"), {**policy, "kind": "half_life"}))

    assert "un decaimiento lineal necesita un número positivo de puntos por día" in linear
    assert "positive number of points" not in linear
    assert "un decaimiento por vida media necesita una vida media positiva en días" in half_life


def test_decay_policy_rescore_jobs_and_transitions_have_pages(admin: Client) -> None:
    response = admin.post(
        reverse("admin:scoring_decaypolicy_add"),
        {
            "kind": "linear",
            "points_per_day": "0",
            "after_days": "14",
            "half_life_days": "0",
            "window_days": "0",
            "floor": "0",
        },
    )
    assert "a linear decay needs a positive number of points per day" in text(response)
    LeadFactory.create()
    response = admin.post(reverse("admin:scoring_rescorejob_add"), {"group": ""})
    assert response.status_code == 302
    job = RescoreJob.objects.get()
    assert job.total == 1
    page = text(admin.get(reverse("admin:scoring_rescorejob_changelist")))
    assert '<progress max="100" value="0">' in page
    for name in ["scoring_grouptransition", "scoring_decayrun", "scoring_visitor", "intake_trackedform"]:
        assert admin.get(reverse(f"admin:{name}_changelist")).status_code == 200, name


def test_a_marketer_adjusts_a_score_by_hand_with_a_reason(admin: Client) -> None:
    lead = LeadFactory.create()
    change = text(admin.get(reverse("admin:scoring_lead_change", args=[lead.pk])))
    url = reverse("admin:scoring_lead_adjust", args=[lead.pk])
    assert url in change
    refused = admin.post(url, {"dimension": "engagement", "delta": "0", "note": "nothing"})
    assert "an adjustment of 0 changes nothing" in text(refused)
    done = admin.post(url, {"dimension": "engagement", "delta": "12", "note": "Met at the toy fair"})
    assert done.status_code == 302
    entry = ScoreEntry.objects.get(lead=lead)
    assert (entry.cause, entry.delta, entry.note, entry.created_by is not None) == (
        "manual",
        12,
        "Met at the toy fair",
        True,
    )
    lead.refresh_from_db()
    assert lead.engagement_score == 12


def test_an_adjustment_past_what_a_score_holds_is_refused_at_the_field(admin: Client) -> None:
    lead = LeadFactory.create()
    url = reverse("admin:scoring_lead_adjust", args=[lead.pk])
    assert admin.post(url, {"dimension": "fit", "delta": "2000000000", "note": "big"}).status_code == 302
    # Each was a server error: the score's column (or the sum of both) cannot hold it.
    for dimension, delta in [("engagement", "9" * 30), ("engagement", "99999999999"), ("fit", "2000000000"),
                             ("engagement", "2000000000")]:  # fmt: skip
        refused = admin.post(url, {"dimension": dimension, "delta": delta, "note": "more"})
        assert refused.status_code == 200, delta
        assert "delta" in refused.context["form"].errors, delta
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score) == (2000000000, 0)
    assert ScoreEntry.objects.filter(lead=lead).count() == 1


@pytest.mark.parametrize("lead_id", ["9223372036854775807", "9223372036854775808", "9" * 20])
def test_a_lead_page_for_an_id_past_every_lead_s_says_there_is_none(admin: Client, lead_id: str) -> None:
    response = admin.get(f"/admin/scoring/lead/{lead_id}/change/", follow=True)
    assert response.status_code == 200
    assert "doesn\u2019t exist" in text(response)


@pytest.mark.parametrize(
    ("language", "low", "high"),
    [("en", "-2,147,483,647", "2,147,483,647"), ("es", "-2.147.483.647", "2.147.483.647")],
)
def test_an_adjustment_s_refusal_writes_its_range_as_the_page_s_language_does(
    admin: Client, language: str, low: str, high: str
) -> None:
    lead = LeadFactory.create()
    url = reverse("admin:scoring_lead_adjust", args=[lead.pk])
    headers = {"accept-language": language}
    assert (
        admin.post(url, {"dimension": "fit", "delta": "2000000000", "note": "big"}, headers=headers).status_code == 302
    )
    # Past what the score holds once added to it, and past what any adjustment can be.
    for delta in ("2000000000", "3000000000", "-3000000000"):
        refused = admin.post(url, {"dimension": "fit", "delta": delta, "note": "more"}, headers=headers)
        [error] = refused.context["form"].errors["delta"]
        assert error.endswith(f" {low} {error.split()[-2]} {high}"), (delta, error)
