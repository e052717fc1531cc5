from django.urls import path

from routing import views

app_name = "sales"

urlpatterns = [
    path("", views.queue, name="queue"),
]
