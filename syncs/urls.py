from django.urls import path

from syncs import views, webhooks, wizard

urlpatterns = [
    path("hooks/<str:token>/<path:subscription_type>", webhooks.receive, name="webhook_receive"),
    path("t/<slug:slug>/flows/<int:pk>/", views.flow_detail, name="flow_detail"),
    path("t/<slug:slug>/flows/<int:pk>/sync/", views.flow_sync_now, name="flow_sync_now"),
    path("t/<slug:slug>/flows/<int:pk>/retry-errors/", views.flow_retry_errors, name="flow_retry_errors"),
    path("t/<slug:slug>/flows/<int:pk>/activate/", views.flow_activate, name="flow_activate"),
    path("t/<slug:slug>/flows/<int:pk>/deactivate/", views.flow_deactivate, name="flow_deactivate"),
    path("t/<slug:slug>/flows/<int:pk>/switches/", views.flow_switches, name="flow_switches"),
    path("t/<slug:slug>/flows/<int:pk>/links/", views.flow_links, name="flow_links"),
    path("t/<slug:slug>/flows/<int:pk>/links/party/", views.flow_link_party, name="flow_link_party"),
    path("t/<slug:slug>/flows/<int:pk>/links/product/", views.flow_link_product, name="flow_link_product"),
    path("t/<slug:slug>/flows/<int:pk>/links/import/", views.flow_links_import, name="flow_links_import"),
    path("t/<slug:slug>/runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("t/<slug:slug>/runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    path("t/<slug:slug>/documents/<int:pk>/", views.document_detail, name="document_detail"),
    path("t/<slug:slug>/documents/<int:pk>/retry/", views.document_retry, name="document_retry"),
    path("t/<slug:slug>/dashboard/", views.tenant_dashboard, name="tenant_dashboard"),
    path("t/<slug:slug>/flows/new-master-data/", views.master_data_new, name="master_data_new"),
    path("t/<slug:slug>/connections/<int:pk>/webhooks/", views.connection_webhooks, name="connection_webhooks"),
    path("t/<slug:slug>/wizard/", wizard.wizard_start, name="wizard_start"),
    path("t/<slug:slug>/wizard/<int:pk>/activate/", wizard.wizard_activate, name="wizard_activate"),
    path("t/<slug:slug>/wizard/<int:pk>/<slug:step>/", wizard.wizard_step, name="wizard_step"),
    path("t/<slug:slug>/wizard/<int:pk>/<slug:step>/refresh/", wizard.wizard_refresh, name="wizard_refresh"),
]
