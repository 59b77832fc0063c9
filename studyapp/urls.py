from django.contrib.auth import views as auth_views
from django.urls import path

from . import api, console, views

app_name = "studyapp"
urlpatterns = [
    path("", views.survey, name="survey"),
    path("i/<slug:token>/", views.invite, name="invite"),
    path("s/<slug:slug>/", views.study_link, name="study_link"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="studyapp:login"), name="logout"),
    path("consent/", views.consent, name="consent"),
    path("instructions/", views.instructions, name="instructions"),
    path("background/", views.background, name="background"),
    path("trial/<int:position>/", views.trial, name="trial"),
    path("trial/<int:position>/feedback/", views.feedback, name="feedback"),
    path("complete/", views.complete, name="complete"),
    path("withdraw/", views.withdraw, name="withdraw"),
    path("dashboard/", console.dashboard, name="dashboard"),
    path("dashboard/<slug:slug>/", console.study_dashboard, name="dashboard_study"),
    path("dashboard/<slug:slug>/preview/", console.preview, name="preview"),
    path("dashboard/<slug:slug>/decide/", console.decide, name="decide"),
    path("dashboard/<slug:slug>/open/", console.open_switch, name="open_switch"),
    path("dashboard/<slug:slug>/export.zip", console.export_zip, name="export_zip"),
    path("dashboard/<slug:slug>/activity.png", console.activity_png, name="activity_png"),
    path("api/studies/<slug:slug>/export.zip", api.export_zip, name="api_export_zip"),
]
