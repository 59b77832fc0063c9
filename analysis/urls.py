from django.urls import path

from . import views

app_name = "analysis"
urlpatterns = [
    path("dashboard/<slug:slug>/report/", views.report, name="report"),
]
