"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "waitlist-site administration"
admin.site.site_title = "waitlist-site admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("backups_app.urls")),
    path("", include("waitlist.urls")),
]
