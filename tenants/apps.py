from django.apps import AppConfig
from django.db.models.signals import post_migrate

SUPPORT_GROUP = "Support"


def ensure_support_group(sender, **kwargs):
    """A 'Support' group whose members see every tenant (in the app and in the admin)."""
    from django.contrib.auth.models import Group, Permission

    permission = Permission.objects.filter(content_type__app_label="tenants", codename="support_all_tenants").first()
    if permission is None:
        return
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    group.permissions.add(permission)


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and connections"

    def ready(self):
        post_migrate.connect(ensure_support_group, sender=self)
