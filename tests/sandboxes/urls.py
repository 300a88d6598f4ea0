"""A minimal URLconf for the sandbox tests: the sandboxes mounted under a prefix of our own."""
from django.urls import include, path

urlpatterns = [path("mounted/", include("sandboxes.urls"))]
