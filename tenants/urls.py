from django.urls import path

from tenants import oauth_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("tenants/", views.tenant_list, name="tenant_list"),
    path("tenants/switch/", views.tenant_switch, name="tenant_switch"),
    path("t/<slug:slug>/", views.tenant_home, name="tenant_home"),
    path("t/<slug:slug>/connections/new/", views.connection_new, name="connection_new"),
    path("t/<slug:slug>/connections/<int:pk>/", views.connection_detail, name="connection_detail"),
    path("t/<slug:slug>/connections/<int:pk>/edit/", views.connection_edit, name="connection_edit"),
    path("t/<slug:slug>/connections/<int:pk>/check/", views.connection_check, name="connection_check"),
    path("t/<slug:slug>/connections/<int:pk>/oauth/", oauth_views.oauth_start, name="oauth_start"),
    path("oauth/callback/", oauth_views.oauth_callback, name="oauth_callback"),
    path("t/<slug:slug>/connections/<int:pk>/organisation/", oauth_views.oauth_organisation,
         name="oauth_organisation"),
]
