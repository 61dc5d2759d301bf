"""URLs of the backup app."""

from django.urls import path

from backups_app import views

app_name = "backups_app"

urlpatterns = [
    path("health/", views.health, name="health"),
]
