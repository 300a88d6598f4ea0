from functools import cache

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


@cache
def _favicon() -> bytes | None:
    found = finders.find("hub/favicon.ico")
    if not found:
        return None
    with open(found, "rb") as icon:
        return icon.read()


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request):
    """/favicon.ico, which browsers ask for on every page whatever the page links (pages link the SVG)."""
    content = _favicon()
    if content is None:
        raise Http404("No icon.")
    return HttpResponse(content, content_type="image/x-icon")


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
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
