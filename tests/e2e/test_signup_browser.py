"""A fan signs up on the public pages in a real browser, on a phone and on desktop screens."""

import pytest
from django.template.loader import render_to_string

from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
DESKTOP = {"width": 1440, "height": 900}

# An event poster the browser fetches from "another host", answered by the test itself.
POSTER_URL = "https://images.example.com/aurora-poster.svg"
POSTER_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
<stop offset="0" stop-color="#2a0f7a"/><stop offset="1" stop-color="#d6336c"/>
</linearGradient></defs>
<rect width="1200" height="630" fill="url(#g)"/>
<circle cx="940" cy="160" r="90" fill="#ffb703" opacity=".85"/>
</svg>"""


@pytest.fixture
def event(settings):
    settings.WAITLIST_EVENT_NAME = "Aurora Nights Live"
    settings.WAITLIST_EVENT_TAGLINE = (
        "Two nights of northern-lights pop. Be first in line for tickets."
    )
    settings.WAITLIST_EVENT_DETAILS = "Fri 13 & Sat 14 March 2026 · The Roundhouse, London"
    return settings


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def inside_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    viewport = page.viewport_size
    return (
        box["y"] >= 0
        and box["y"] + box["height"] <= viewport["height"]
        and box["x"] + box["width"] <= viewport["width"]
    )


def card_content_left(page) -> float:
    return page.locator("main .card").evaluate(
        "card => card.getBoundingClientRect().left + parseFloat(getComputedStyle(card).paddingLeft)"
    )


def test_fan_signs_up_in_a_browser(page, live_site):
    page.goto(live_site.url + "/")
    page.get_by_label("Full name").fill("Zoë Ångström")
    page.get_by_label("Email").fill("Zoe@Example.com")
    page.get_by_label("City").fill("Chennai")
    page.get_by_label("I agree to be contacted").check()

    page.get_by_role("button", name="Join the waitlist").click()

    page.wait_for_url(live_site.url + "/thanks/")
    assert page.get_by_role("heading", name="You're on the list!").is_visible()
    signup = Signup.objects.get()
    assert (signup.full_name, signup.email, signup.city) == (
        "Zoë Ångström",
        "zoe@example.com",
        "Chennai",
    )


@pytest.mark.parametrize("viewport", [LAPTOP, DESKTOP, PHONE], ids=["1280", "1440", "390"])
def test_signup_page_fits_the_screen_and_lines_up(page, live_site, artifacts_dir, event, viewport):
    page.set_viewport_size(viewport)
    page.goto(live_site.url + "/")

    assert page.get_by_role("heading", level=1).inner_text().splitlines() == [
        "JOIN THE WAITLIST FOR",
        "Aurora Nights Live",
    ]
    assert no_horizontal_scroll(page)
    brand_left = page.locator(".brand a").bounding_box()["x"]
    assert abs(brand_left - card_content_left(page)) <= 1
    labels = page.locator("form .field label").all_inner_texts()
    assert labels == [
        "Full name",
        "Email",
        "Phone (optional)",
        "City (optional)",
        "Country (optional)",
        "Message (optional)",
        "I agree to be contacted about this waitlist.",
    ]
    assert "Optional." not in page.locator("form").inner_text()
    if viewport != PHONE:
        # Everything a fan must do is above the fold on a laptop.
        assert inside_viewport(page, page.get_by_label("I agree to be contacted"))
        assert inside_viewport(page, page.locator("label[for=id_consent]"))
        assert inside_viewport(page, page.get_by_role("button", name="Join the waitlist"))
    page.screenshot(
        path=artifacts_dir / f"public-signup-{viewport['width']}.png",
        full_page=viewport == PHONE,
    )


def test_event_image_shows_and_the_form_still_fits_a_laptop(page, live_site, artifacts_dir, event):
    event.WAITLIST_EVENT_IMAGE_URL = POSTER_URL
    page.route(
        POSTER_URL,
        lambda route: route.fulfill(body=POSTER_SVG, content_type="image/svg+xml"),
    )
    page.set_viewport_size(LAPTOP)
    page.goto(live_site.url + "/")

    image = page.locator("img.event-image")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator('meta[property="og:image"]').get_attribute("content") == POSTER_URL
    assert inside_viewport(page, page.get_by_label("I agree to be contacted"))
    assert inside_viewport(page, page.get_by_role("button", name="Join the waitlist"))
    assert no_horizontal_scroll(page)
    page.screenshot(path=artifacts_dir / "public-signup-image-1280.png")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280", "390"])
def test_failed_submit_focuses_the_error_summary_whose_links_reach_the_fields(
    page, live_site, artifacts_dir, event, viewport
):
    page.set_viewport_size(viewport)
    page.goto(live_site.url + "/")
    page.get_by_label("Full name").fill("Zoë Ångström")
    page.get_by_label("Email").fill("not-an-email")

    page.get_by_role("button", name="Join the waitlist").click()

    page.wait_for_selector("#id_email_error")
    page.wait_for_function("document.activeElement.matches('[data-error-summary]')")
    summary = page.locator("[data-error-summary]")
    assert summary.get_attribute("tabindex") == "-1"
    assert page.title() == "Error: Join the waitlist \u2013 Aurora Nights Live"
    links = summary.get_by_role("link")
    assert links.all_inner_texts() == [
        "Please enter a valid email address.",
        "Please tick the box to join the waitlist.",
    ]
    assert page.locator("#id_email_error").inner_text() == "Please enter a valid email address."
    assert "Please tick the box" in page.locator("#id_consent_error").inner_text()
    assert page.get_by_label("Full name").input_value() == "Zoë Ångström"
    assert no_horizontal_scroll(page)
    page.screenshot(
        path=artifacts_dir / f"public-errors-{viewport['width']}.png",
        full_page=viewport == PHONE,
    )

    summary.get_by_role("link", name="Please tick the box").click()
    assert page.evaluate("document.activeElement.id") == "id_consent"
    assert inside_viewport(page, page.locator("label[for=id_consent]"))
    summary.get_by_role("link", name="Please enter a valid email address.").click()
    assert page.evaluate("document.activeElement.id") == "id_email"
    assert inside_viewport(page, page.locator("label[for=id_email]"))
    assert Signup.objects.count() == 0


def test_honeypot_is_out_of_sight_and_styles_are_loaded(page, live_site):
    page.goto(live_site.url + "/")

    honeypot = page.locator("#id_website").bounding_box()
    assert honeypot["x"] + honeypot["width"] <= 0, "the honeypot is on screen"
    button_colour = page.get_by_role("button", name="Join the waitlist").evaluate(
        "button => getComputedStyle(button).backgroundColor"
    )
    assert button_colour == "rgb(91, 43, 214)", "site.css was not applied"
    consent_colour = page.get_by_label("I agree to be contacted").evaluate(
        "box => getComputedStyle(box).accentColor"
    )
    assert consent_colour == "rgb(91, 43, 214)"


# Records what the page asks the browser to share: headless Chromium on Linux has no share sheet.
FAKE_SHARE = "navigator.share = data => { window.sharedData = data; return Promise.resolve(); };"


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280", "390"])
def test_thanks_page_says_what_happens_next_and_shares_the_signup_page(
    page, live_site, artifacts_dir, event, viewport
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.add_init_script(FAKE_SHARE)
    page.set_viewport_size(viewport)
    page.goto(live_site.url + "/thanks/")
    signup_url = live_site.url + "/"

    assert page.get_by_role("heading", name="What happens next").is_visible()
    assert "We will email you as soon as tickets open." in page.locator("main").inner_text()
    assert "nothing else to do for now" in page.locator("main").inner_text()
    assert page.get_by_role("link", name=signup_url).get_attribute("href") == signup_url
    assert no_horizontal_scroll(page)
    page.screenshot(
        path=artifacts_dir / f"public-thanks-{viewport['width']}.png",
        full_page=viewport == PHONE,
    )

    page.get_by_role("button", name="Share").click()
    assert page.evaluate("window.sharedData") == {
        "title": "Aurora Nights Live",
        "text": "Join the waitlist for Aurora Nights Live",
        "url": signup_url,
    }
    page.get_by_role("button", name="Copy link").click()
    page.get_by_role("status").get_by_text("Link copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == signup_url


def test_thanks_page_shares_without_javascript(browser, live_site):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(live_site.url + "/thanks/")

        share_link = page.get_by_role("link", name=live_site.url + "/")
        email_link = page.get_by_role("link", name="Email a friend")
        assert share_link.is_visible()
        assert email_link.is_visible()
        assert email_link.get_attribute("href").startswith("mailto:?subject=Join%20the%20waitlist")
        # Buttons that need JavaScript are not shown where they could not work.
        assert not page.get_by_role("button", name="Share").is_visible()
        assert not page.get_by_role("button", name="Copy link").is_visible()
    finally:
        context.close()


def test_error_pages_keep_the_look_and_lead_back_to_the_form(page, live_site, artifacts_dir, event):
    response = page.goto(live_site.url + "/no-such-page/")

    assert response.status == 404
    assert page.title() == "Page not found \u2013 Aurora Nights Live"
    assert no_horizontal_scroll(page)
    assert page.get_by_role("link", name="Go to the waitlist").get_attribute("href") == "/"
    page.screenshot(path=artifacts_dir / "public-404-390.png")

    # Django renders 500.html without a request; shown here on the site so its CSS loads.
    page.set_content(render_to_string("500.html"))
    page.wait_for_load_state()

    assert page.get_by_role("heading", name="Something went wrong").is_visible()
    header_colour = page.locator(".site-header").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert header_colour == "rgb(91, 43, 214)", "the 500 page does not load site.css"
    assert page.get_by_role("link", name="Back to the waitlist").get_attribute("href") == "/"
    assert no_horizontal_scroll(page)
    page.screenshot(path=artifacts_dir / "public-500-390.png")
