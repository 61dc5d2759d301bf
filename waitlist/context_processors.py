"""The event fans sign up for, in every page's context: headings, titles and link previews."""

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.urls import reverse

from waitlist import conf


def site_event(request: HttpRequest) -> dict:
    """`site_event`: the event's name, tagline, details, a description for previews, and the
    absolute URLs of the signup page (what fans share) and of the image ("" without one)."""
    event = conf.event()
    signup_path = reverse("waitlist:signup")
    # An image URL the system check refuses is left out: a broken image is worse than none.
    image = event.image_url if conf.is_event_image_url(event.image_url) else ""
    try:
        url = request.build_absolute_uri(signup_path)
        image_url = request.build_absolute_uri(image) if image else ""
    except DisallowedHost:
        # A page for a request with a bad Host header (an error page) still renders.
        url, image_url = signup_path, image
    return {
        "site_event": {
            "name": event.display_name,
            "tagline": event.tagline,
            "details": event.details,
            "description": " ".join(part for part in (event.tagline, event.details) if part),
            "url": url,
            "image_url": image_url,
        }
    }
