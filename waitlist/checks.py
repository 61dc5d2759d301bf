"""System checks for the signup app's settings, so a typo is reported at start-up."""

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from waitlist import conf


@register()
def check_signup_rate_limit(app_configs, **kwargs) -> list[Error]:
    try:
        conf.signup_rate_limit()
    except ImproperlyConfigured as err:
        return [Error(str(err), id="waitlist.E001")]
    return []
