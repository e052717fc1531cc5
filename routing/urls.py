from django.urls import path

from routing import views

app_name = "sales"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("items/<int:item_id>/claim/", views.claim, name="claim"),
    path("items/<int:item_id>/<slug:verb>/", views.act, name="act"),
]
