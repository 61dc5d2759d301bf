"""URLs of the backup app."""

from django.urls import path

from backups_app import api, views

app_name = "backups_app"

urlpatterns = [
    path("health/", views.health, name="health"),
    path("api/backup/", api.backup_catalogue, name="api-catalogue"),
    path("api/backup/create", api.backup_create_view, name="api-create"),
    path("api/backup/export-csv", api.export_csv_view, name="api-export-csv"),
]
