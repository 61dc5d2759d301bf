"""Public URLs: the signup form, the thank-you page and the icon browsers ask every site for."""

from django.urls import path

from waitlist import views

app_name = "waitlist"

urlpatterns = [
    path("", views.signup, name="signup"),
    path("thanks/", views.thanks, name="thanks"),
    path("favicon.ico", views.favicon, name="favicon"),
]
