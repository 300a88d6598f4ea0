"""The hub's admin site: members enter it by their role, not by Django staff flags or permissions."""
from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class HubAdminSite(admin.AdminSite):
    site_header = "Integration hub administration"
    site_title = "Integration hub"
    index_title = "Tenants, connections, syncs and errors"

    def has_permission(self, request):
        from tenants.policy import may_admin

        return may_admin(request.user)


class HubAdminConfig(AdminConfig):
    default_site = "integration_hub.admin_site.HubAdminSite"
