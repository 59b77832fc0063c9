from django.contrib import admin
from django.urls import include, path

from operations.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),  # the proxy's health check
    path("", include("studyapp.urls")),
    path("", include("analysis.urls")),  # the console's report (staff only)
]

handler404 = "studyapp.errors.page_not_found"
