from django.contrib.admin.apps import AdminConfig


class LeadflowAdminConfig(AdminConfig):
    default_site = "project.admin_site.LeadflowAdminSite"
