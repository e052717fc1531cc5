"""Public nurture URLs; the project includes them under ``n/``."""

from django.urls import path

from nurture import views

app_name = "nurture"

urlpatterns = [
    path("u/<str:token>", views.unsubscribe, name="unsubscribe"),
]
