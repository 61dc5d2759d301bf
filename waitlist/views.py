"""The public signup page and the thank-you page."""

import logging
from pathlib import Path
from urllib.parse import quote, urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from waitlist import conf
from waitlist.forms import SignupForm
from waitlist.ratelimit import client_address, rate_limit_hit
from waitlist.services import signup_create

logger = logging.getLogger(__name__)


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "waitlist/signup.html", {"form": SignupForm()})

    rate = conf.signup_rate_limit()
    if rate is not None:
        client = client_address(request, trusted_proxies=conf.trusted_proxy_count())
        retry_after = rate_limit_hit(scope="signup", client=client, rate=rate)
        if retry_after:
            logger.warning("signup rate limit reached client=%s", client)
            response = render(
                request,
                "waitlist/rate_limited.html",
                {"retry_after": retry_after},
                status=429,
            )
            response["Retry-After"] = str(retry_after)
            return response

    form = SignupForm(request.POST)
    if form.is_bot():
        # Look like success so the bot learns nothing; save nothing.
        logger.info("signup honeypot filled; discarded")
        return redirect("waitlist:thanks")
    if not form.is_valid():
        return render(request, "waitlist/signup.html", {"form": form})

    signup_create(**form.signup_fields())
    return redirect("waitlist:thanks")


@require_http_methods(["GET", "HEAD"])
def thanks(request: HttpRequest) -> HttpResponse:
    """What happens next, and a link to pass on (the signup page, never this one)."""
    share_text = f"Join the waitlist for {conf.event().display_name}"
    signup_url = request.build_absolute_uri(reverse("waitlist:signup"))
    # quote, not quote_plus: mail programs show a "+" in a mailto: body as a plus sign.
    mailto_url = "mailto:?" + urlencode(
        {"subject": share_text, "body": f"{share_text}: {signup_url}"}, quote_via=quote
    )
    return render(
        request, "waitlist/thanks.html", {"share_text": share_text, "mailto_url": mailto_url}
    )


FAVICON = (Path(__file__).resolve().parent / "static" / "waitlist" / "favicon.ico").read_bytes()


@require_http_methods(["GET", "HEAD"])
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers fetch for every page, the admin's too, whatever the page
    links (ours link the SVG icon under /static/ as well)."""
    response = HttpResponse(FAVICON, content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
