"""Segment-compatible HTTP Tracking API endpoints (/v1/identify, /v1/track, /v1/page, /v1/batch)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
