"""Public tracking: the JS snippet and page beacon, email open pixel and click redirect, form capture."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
