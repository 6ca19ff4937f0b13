from django.urls import path
from django.views.generic import RedirectView

from mahnwerk.web.api import api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    path("api/v1/", api.urls),
]
