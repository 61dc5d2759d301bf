"""The public pages: signing up, thanks, and leaving the list (ask, confirm by mail, done).

Leaving never tells anyone whether an address is on the list: asking always mails a link and
always shows the same page, and the pages after the link say the same whatever was found.
"""

import logging
import smtplib
from pathlib import Path
from urllib.parse import quote, urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django.views.generic import FormView

from waitlist import conf, erasure_links
from waitlist.forms import ErasureRequestForm, SignupForm
from waitlist.ratelimit import client_address, rate_limit_hit
from waitlist.services import (
    ErasureResult,
    erasure_link_send,
    erasure_request_confirmed,
    signup_create,
)

logger = logging.getLogger(__name__)


def rate_limited(request: HttpRequest, *, scope: str, template: str) -> HttpResponse | None:
    """Count this POST against the client's `scope`; the 429 page once past the limit, else None.

    Every POST counts, valid or not, so a client cannot probe or flood for free.
    """
    rate = conf.signup_rate_limit()
    if rate is None:
        return None
    client = client_address(request, trusted_proxies=conf.trusted_proxy_count())
    retry_after = rate_limit_hit(scope=scope, client=client, rate=rate)
    if not retry_after:
        return None
    logger.warning("%s rate limit reached client=%s", scope, client)
    response = render(request, template, {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


class PublicFormView(FormView):
    """A public form: GET shows it; every POST counts against the client's rate limit, and a
    filled honeypot goes on to the success page as if it had worked, so a bot learns nothing
    and nothing is saved."""

    http_method_names = ["get", "head", "post"]
    rate_limit_scope: str
    rate_limited_template: str

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        limited = rate_limited(
            request, scope=self.rate_limit_scope, template=self.rate_limited_template
        )
        if limited is not None:
            return limited
        form = self.get_form()
        if form.is_bot():
            logger.info("%s honeypot filled; discarded", self.rate_limit_scope)
            return redirect(self.get_success_url())
        if form.is_valid():
            return self.form_valid(form)
        return self.form_invalid(form)


class SignupView(PublicFormView):
    template_name = "waitlist/signup.html"
    form_class = SignupForm
    success_url = reverse_lazy("waitlist:thanks")
    rate_limit_scope = "signup"
    rate_limited_template = "waitlist/rate_limited.html"

    def form_valid(self, form: SignupForm) -> HttpResponse:
        signup_create(**form.signup_fields())
        return super().form_valid(form)


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


class ErasureRequestView(PublicFormView):
    """Ask to leave the list: mail the address a link to confirm, listed or not."""

    template_name = "waitlist/erasure_request.html"
    form_class = ErasureRequestForm
    success_url = reverse_lazy("waitlist:erasure_sent")
    rate_limit_scope = "erasure"
    rate_limited_template = "waitlist/erasure_rate_limited.html"

    def get_context_data(self, **kwargs) -> dict:
        # What confirming will do under the current setting.
        return super().get_context_data(self_erasure=conf.self_erasure(), **kwargs)

    def form_valid(self, form: ErasureRequestForm) -> HttpResponse:
        try:
            erasure_link_send(email=form.cleaned_data["email"], confirm_url_for=self.confirm_url)
        except (OSError, smtplib.SMTPException) as err:
            # The same for every address, so it tells nobody who is on the list.
            logger.error("erasure link not sent: the mail server failed: %s", err)
            return render(self.request, "waitlist/erasure_not_sent.html", status=503)
        return super().form_valid(form)

    def confirm_url(self, token: str) -> str:
        """The link in the mail, on the host the fan asked on."""
        return self.request.build_absolute_uri(reverse("waitlist:erasure_confirm", args=[token]))


@require_http_methods(["GET", "HEAD"])
def erasure_sent(request: HttpRequest) -> HttpResponse:
    """The same "check your inbox" page for every address, on the list or not."""
    context = {"link_lifetime": erasure_links.link_lifetime()}
    return render(request, "waitlist/erasure_sent.html", context)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def erasure_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the address and a button, and changes nothing: mail scanners open links.
    POST carries out the confirmed request. Not cached: the page shows the address."""
    try:
        email = erasure_links.email_from_token(token)
    except erasure_links.BadErasureLink:
        return render(request, "waitlist/erasure_bad_link.html", status=400)
    if request.method != "POST":
        return render(request, "waitlist/erasure_confirm.html", {"email": email})
    result = erasure_request_confirmed(email=email)
    erased = isinstance(result, ErasureResult)
    return render(request, "waitlist/erasure_done.html", {"erased": erased})


FAVICON = (Path(__file__).resolve().parent / "static" / "waitlist" / "favicon.ico").read_bytes()


@require_http_methods(["GET", "HEAD"])
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers fetch for every page, the admin's too, whatever the page
    links (ours link the SVG icon under /static/ as well)."""
    response = HttpResponse(FAVICON, content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
