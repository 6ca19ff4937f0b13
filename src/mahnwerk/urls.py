from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Probes and Prometheus (docs/operations.md, "Health and metrics").
    path("", include("mahnwerk.ops.urls")),
    path("", include("mahnwerk.web.urls")),
]

#: 404 in the workspace's look, with the view's own words (403 and 500: Django's handlers with
#: the templates 403.html and 500.html of the web app).
handler404 = "mahnwerk.web.views.errors.page_not_found"
