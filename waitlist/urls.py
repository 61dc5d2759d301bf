"""Public URLs: the signup form, the thank-you page, leaving the list, and the icon browsers
ask every site for."""

from django.urls import path

from waitlist import views

app_name = "waitlist"

urlpatterns = [
    path("", views.SignupView.as_view(), name="signup"),
    path("thanks/", views.thanks, name="thanks"),
    path("remove/", views.ErasureRequestView.as_view(), name="erasure_request"),
    path("remove/sent/", views.erasure_sent, name="erasure_sent"),
    path("remove/confirm/<str:token>/", views.erasure_confirm, name="erasure_confirm"),
    path("favicon.ico", views.favicon, name="favicon"),
]
