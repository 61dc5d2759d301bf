"""A fan signs up on the public page in a real browser, on a phone-sized screen."""

import pytest

from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_fan_signs_up_in_a_browser(page, live_site, artifacts_dir):
    page.goto(live_site.url + "/")
    page.get_by_label("Full name").fill("Zoë Ångström")
    page.get_by_label("Email").fill("Zoe@Example.com")
    page.get_by_label("City").fill("Chennai")
    page.get_by_label("I agree to be contacted").check()
    page.screenshot(path=artifacts_dir / "signup-form-mobile.png", full_page=True)

    page.get_by_role("button", name="Join the waitlist").click()

    page.wait_for_url(live_site.url + "/thanks/")
    assert page.get_by_role("heading", name="You're on the list!").is_visible()
    signup = Signup.objects.get()
    assert (signup.full_name, signup.email, signup.city) == (
        "Zoë Ångström",
        "zoe@example.com",
        "Chennai",
    )


def test_browser_shows_field_errors_and_keeps_input(page, live_site, artifacts_dir):
    page.goto(live_site.url + "/")
    page.get_by_label("Full name").fill("Zoë Ångström")
    page.get_by_label("Email").fill("not-an-email")

    page.get_by_role("button", name="Join the waitlist").click()

    page.wait_for_selector("#id_email_error")
    assert page.get_by_role("alert").first.is_visible()
    assert page.locator("#id_email_error").inner_text() == "Please enter a valid email address."
    assert "Please tick the box" in page.locator("#id_consent_error").inner_text()
    assert page.get_by_label("Full name").input_value() == "Zoë Ångström"
    page.screenshot(path=artifacts_dir / "signup-errors-mobile.png", full_page=True)
    assert Signup.objects.count() == 0


def test_honeypot_is_out_of_sight_and_styles_are_loaded(page, live_site):
    page.goto(live_site.url + "/")

    honeypot = page.locator("#id_website").bounding_box()
    assert honeypot["x"] + honeypot["width"] <= 0, "the honeypot is on screen"
    button_colour = page.get_by_role("button", name="Join the waitlist").evaluate(
        "button => getComputedStyle(button).backgroundColor"
    )
    assert button_colour == "rgb(91, 43, 214)", "site.css was not applied"
