"""Campaigns in the admin: what interactions' ``campaign`` property names, with its
channel, cost and dates, for the campaigns report."""

from __future__ import annotations

from django.contrib import admin

from scoring.admin.figures import GroupedFiguresAdmin
from scoring.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(GroupedFiguresAdmin[Campaign]):
    list_display = ["name", "key", "channel", "cost", "start_date", "end_date"]
    list_filter = ["channel"]
    search_fields = ["key", "name", "channel"]
    ordering = ["name", "key"]
    fields = ["key", "name", "channel", "cost", "start_date", "end_date"]
