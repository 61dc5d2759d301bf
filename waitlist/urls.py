"""Public URLs: the signup form and the thank-you page."""

from django.urls import path

from waitlist import views

app_name = "waitlist"

urlpatterns = [
    path("", views.signup, name="signup"),
    path("thanks/", views.thanks, name="thanks"),
]
