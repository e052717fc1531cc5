"""Campaigns as the model file's ``campaigns`` section: imported inside the model
import's transaction (all or nothing with the rest of the file), and exported.

Scoring owns campaigns (interactions carry their keys), but the section is added the
way other apps add theirs (:func:`scoring.model_file.register_section`), so the model
file's core stays the score groups, rules and decay."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from scoring import campaign_file
from scoring import model_file as scoring_file
from scoring.models import Campaign


def campaigns_import(spec: campaign_file.CampaignsSpec) -> list[str]:
    """Make the file's campaigns, matched by key. Campaigns not in the file are left as
    they are: their cost is history a report still reads. Returns summary lines."""
    existing = {c.key: c for c in Campaign.objects.select_for_update()}
    created = updated = 0
    for spec_row in spec.campaigns:
        fields = {
            "name": spec_row.name,
            "channel": spec_row.channel,
            "cost": spec_row.cost,
            "start_date": spec_row.start_date,
            "end_date": spec_row.end_date,
        }
        row = existing.get(spec_row.key)
        if row is None:
            Campaign.objects.create(key=spec_row.key, **fields)
            created += 1
            continue
        changed = [name for name, value in fields.items() if getattr(row, name) != value]
        for name in changed:
            setattr(row, name, fields[name])
        if changed:
            row.save(update_fields=changed)
            updated += 1
    line = f"Campaigns: {created} created, {updated} updated."
    untouched = sorted(set(existing) - {c.key for c in spec.campaigns})
    if untouched:
        line += f" Not in the file, left as they are: {', '.join(untouched)}"
    return [line]


def campaigns_export() -> campaign_file.CampaignsSpec:
    return campaign_file.CampaignsSpec(
        tuple(
            campaign_file.CampaignSpec(c.key, c.name, c.channel, c.cost, c.start_date, c.end_date)
            for c in Campaign.objects.order_by("key")
        )
    )


def campaigns_loaded() -> bool:
    return Campaign.objects.exists()


def register() -> None:
    scoring_file.register_section(
        scoring_file.Section(
            name="campaigns",
            title=gettext_noop("campaigns"),
            keys=("campaigns",),
            parse=campaign_file.parse,
            dump=campaign_file.dump,
            import_=campaigns_import,
            export=campaigns_export,
            loaded=campaigns_loaded,
        )
    )
