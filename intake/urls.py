from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from intake import account_api, api, outcomes

app_name = "api"

urlpatterns = [
    path("events", api.EventsView.as_view(), name="events"),
    path("leads", api.LeadsView.as_view(), name="leads"),
    path("leads/<int:lead_id>", api.LeadView.as_view(), name="lead"),
    path("leads/<int:lead_id>/outcomes", outcomes.LeadOutcomesView.as_view(), name="lead-outcomes"),
    path("leads/<int:lead_id>/score-history", outcomes.LeadScoreHistoryView.as_view(), name="lead-score-history"),
    path("outcomes", outcomes.OutcomesView.as_view(), name="outcomes"),
    path("accounts", account_api.AccountsView.as_view(), name="accounts"),
    path("accounts/<int:account_id>", account_api.AccountView.as_view(), name="account"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    # Read only: an OPTIONS answered with the page's renderer had no template to render.
    path("docs", SpectacularSwaggerView.as_view(url_name="api:schema", http_method_names=["get", "head"]), name="docs"),
]
