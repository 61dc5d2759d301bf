"""System checks for the signup app's settings, so a typo is reported at start-up."""

from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from waitlist import conf, erasure


@register()
def check_signup_rate_limit(app_configs, **kwargs) -> list[Error]:
    try:
        conf.signup_rate_limit()
    except ImproperlyConfigured as err:
        return [Error(str(err), id="waitlist.E001")]
    return []


@register()
def check_event(app_configs, **kwargs) -> list[Error]:
    """The public pages show the event; a wrong image URL would show a broken image."""
    event = conf.event()
    errors = []
    if not event.name:
        errors.append(
            Error(
                "WAITLIST_EVENT_NAME is empty: the public pages, their titles and link "
                "previews need the event's name.",
                hint=(
                    "Set it to the event fans sign up for, or unset it for "
                    f'"{conf.DEFAULT_EVENT_NAME}".'
                ),
                id="waitlist.E002",
            )
        )
    if event.image_url and not conf.is_event_image_url(event.image_url):
        errors.append(
            Error(
                f"WAITLIST_EVENT_IMAGE_URL {event.image_url!r} is neither an absolute http(s) "
                'URL nor a path on this site starting with "/".',
                hint='For example "https://cdn.example.com/poster.jpg" or "/static/poster.jpg"; '
                "unset it for no image.",
                id="waitlist.E003",
            )
        )
    return errors


@register()
def check_erasure_key(app_configs, **kwargs) -> list[Error]:
    try:
        erasure.erasure_keys()
    except ImproperlyConfigured as err:
        return [Error(str(err), id="waitlist.E004")]
    return []


@register(Tags.security, deploy=True)
def check_erasure_key_is_own(app_configs, **kwargs) -> list[Warning]:
    """Derived from DJANGO_SECRET_KEY, the key changes when that one is rotated without keeping
    the old in SECRET_KEY_FALLBACKS, and then no erasure matches any more."""
    if not erasure.key_is_derived():
        return []
    return [
        Warning(
            "WAITLIST_ERASURE_KEY is not set: the erasure ledger's key is derived from "
            "DJANGO_SECRET_KEY, so rotating that key without SECRET_KEY_FALLBACKS would let "
            "erased fans come back from older backups.",
            hint='Set WAITLIST_ERASURE_KEY (python -c "import secrets; '
            'print(secrets.token_urlsafe(32))") and keep it with your other secrets.',
            id="waitlist.W001",
        )
    ]
