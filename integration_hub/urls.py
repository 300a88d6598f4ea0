from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # An invited person chooses a password from the link in the invitation (password_reset_confirm).
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("tenants.urls")),
    path("", include("syncs.urls")),
]
if settings.HUB_SANDBOXES:  # local stand-ins for SaaS APIs: the demo and the tests, never production
    urlpatterns.append(path("sandbox/", include("sandboxes.urls")))
