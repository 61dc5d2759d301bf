"""The event fans sign up for (WAITLIST_EVENT_*): on the pages, in link previews, and checked."""

import html
import re

import pytest
from django.core.checks import run_checks
from django.template.loader import render_to_string

from waitlist.context_processors import site_event

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>" onmouseover="alert(1)'


@pytest.fixture
def aurora(settings):
    settings.WAITLIST_EVENT_NAME = "Aurora Nights Live"
    settings.WAITLIST_EVENT_TAGLINE = "Two nights of northern-lights pop."
    settings.WAITLIST_EVENT_DETAILS = "Fri 13 & Sat 14 March 2026 · The Roundhouse, London"
    settings.WAITLIST_EVENT_IMAGE_URL = ""
    return settings


def meta(page: str) -> dict[str, str]:
    """The page's <meta property|name=... content=...> tags, unescaped, by property or name."""
    tags = re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', page)
    return {key: html.unescape(value) for key, value in tags}


def title(page: str) -> str:
    return html.unescape(re.search(r"<title>(.*?)</title>", page, re.S).group(1))


def h1(page: str) -> str:
    inner = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S).group(1)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inner)).split())


def test_defaults_name_the_show_without_details_or_image(client):
    page = client.get("/").content.decode()

    assert title(page) == "Join the waitlist \u2013 Our next show"
    assert h1(page) == "Join the waitlist for Our next show"
    assert "Be the first to hear when tickets open." in page
    tags = meta(page)
    assert tags["og:title"] == "Join the waitlist for Our next show"
    assert tags["og:description"] == "Be the first to hear when tickets open."
    assert tags["og:type"] == "website"
    assert tags["og:url"] == "http://testserver/"
    assert tags["twitter:card"] == "summary"
    assert "og:image" not in tags
    assert "<img" not in page


def test_event_is_named_in_the_title_heading_details_and_header(client, aurora):
    page = client.get("/").content.decode()

    assert title(page) == "Join the waitlist \u2013 Aurora Nights Live"
    assert h1(page) == "Join the waitlist for Aurora Nights Live"
    details = "Fri 13 &amp; Sat 14 March 2026 · The Roundhouse, London"
    assert f'<p class="event-details">{details}</p>' in page
    assert '<p class="lead">Two nights of northern-lights pop.</p>' in page
    assert '<a href="/">Aurora Nights Live</a>' in page  # the header's brand


def test_thanks_page_names_the_event(client, aurora):
    page = client.get("/thanks/").content.decode()

    assert title(page) == "You're on the list \u2013 Aurora Nights Live"
    assert h1(page) == "You're on the list!"
    assert "Thank you for joining the waitlist for Aurora Nights Live (Fri 13 &amp; Sat 14" in page
    # The preview of a shared thanks page leads to the signup page, not to the thanks page.
    assert meta(page)["og:url"] == "http://testserver/"


def test_error_pages_name_the_event(client, aurora, settings, signup_data):
    assert title(client.get("/no-such-page/").content.decode()) == (
        "Page not found \u2013 Aurora Nights Live"
    )
    settings.SIGNUP_RATE_LIMIT = "1/m"
    client.post("/", signup_data)
    busy = client.post("/", signup_data)
    assert busy.status_code == 429
    assert title(busy.content.decode()) == "Too many signups right now \u2013 Aurora Nights Live"


def test_preview_tags_describe_the_event_with_absolute_urls(client, aurora):
    aurora.WAITLIST_EVENT_IMAGE_URL = "/static/aurora/poster.jpg"

    page = client.get("/", secure=True, HTTP_HOST="localhost").content.decode()

    tags = meta(page)
    assert tags["og:title"] == "Join the waitlist for Aurora Nights Live"
    assert tags["og:description"] == (
        "Two nights of northern-lights pop. Fri 13 & Sat 14 March 2026 · The Roundhouse, London"
    )
    assert tags["description"] == tags["og:description"]
    assert tags["og:url"] == "https://localhost/"
    assert tags["og:image"] == "https://localhost/static/aurora/poster.jpg"
    assert tags["twitter:card"] == "summary_large_image"
    assert '<img class="event-image" src="https://localhost/static/aurora/poster.jpg" alt="">' in (
        page
    )


def test_an_absolute_image_url_is_used_as_it_is(client, aurora):
    aurora.WAITLIST_EVENT_IMAGE_URL = "https://cdn.example.com/aurora.jpg?v=2&size=large"

    tags = meta(client.get("/").content.decode())

    assert tags["og:image"] == "https://cdn.example.com/aurora.jpg?v=2&size=large"


def test_an_invalid_image_url_is_left_out_rather_than_shown_broken(client, aurora):
    aurora.WAITLIST_EVENT_IMAGE_URL = "javascript:alert(1)"

    page = client.get("/").content.decode()

    assert "og:image" not in meta(page)
    assert "<img" not in page
    assert "javascript:" not in page


def test_a_page_for_a_host_not_allowed_still_gets_the_event_with_relative_urls(rf, aurora):
    aurora.WAITLIST_EVENT_IMAGE_URL = "/static/aurora/poster.jpg"
    request = rf.get("/", HTTP_HOST="evil.example")

    context = site_event(request)["site_event"]

    assert context["name"] == "Aurora Nights Live"
    assert (context["url"], context["image_url"]) == ("/", "/static/aurora/poster.jpg")


def test_hostile_event_settings_are_escaped_in_text_and_attributes(client, settings):
    settings.WAITLIST_EVENT_NAME = HOSTILE
    settings.WAITLIST_EVENT_TAGLINE = HOSTILE
    settings.WAITLIST_EVENT_DETAILS = HOSTILE
    settings.WAITLIST_EVENT_IMAGE_URL = '/poster.jpg"onerror="alert(1)'

    for url in ["/", "/thanks/", "/no-such-page/"]:
        page = client.get(url).content.decode()

        assert "<script>" not in page, url
        assert '" onmouseover="' not in page, url
        assert '"onerror="' not in page, url
        assert title(page).endswith(HOSTILE), url
        tags = meta(page)
        assert tags["og:site_name"] == HOSTILE, url
        assert tags["og:image"] == "http://testserver/poster.jpg%22onerror=%22alert(1)", url


def test_thanks_page_share_data_is_escaped_and_encoded(client, settings):
    settings.WAITLIST_EVENT_NAME = 'Rock & "Roll" <Live>'

    page = client.get("/thanks/").content.decode()

    escaped = "Rock &amp; &quot;Roll&quot; &lt;Live&gt;"
    assert f'data-share-title="{escaped}"' in page
    assert f'data-share-text="Join the waitlist for {escaped}"' in page
    mailto = html.unescape(re.search(r'href="(mailto:[^"]*)"', page).group(1))
    assert mailto == (
        "mailto:?subject=Join%20the%20waitlist%20for%20Rock%20%26%20%22Roll%22%20%3CLive%3E"
        "&body=Join%20the%20waitlist%20for%20Rock%20%26%20%22Roll%22%20%3CLive%3E"
        "%3A%20http%3A%2F%2Ftestserver%2F"
    )


def test_server_error_page_renders_without_a_request_or_the_database():
    # Django renders 500.html with no context at all: nothing there may need one.
    page = render_to_string("500.html")

    assert "Something went wrong" in page
    assert re.search(r'href="/static/waitlist/site\.[0-9a-f]{12}\.css"', page)
    assert "signing up twice with the same email address is fine" in page


def event_check_errors() -> list:
    return [message for message in run_checks() if message.id in {"waitlist.E002", "waitlist.E003"}]


def test_the_defaults_pass_the_system_check():
    assert event_check_errors() == []


@pytest.mark.parametrize("name", ["", "   "])
def test_system_check_reports_an_empty_event_name(settings, name):
    settings.WAITLIST_EVENT_NAME = name

    [error] = event_check_errors()

    assert error.id == "waitlist.E002"
    assert error.msg.startswith("WAITLIST_EVENT_NAME is empty")
    assert '"Our next show"' in error.hint


@pytest.mark.parametrize(
    "url",
    [
        "poster.jpg",
        "ftp://files.example.com/poster.jpg",
        "javascript:alert(1)",
        "//evil.example/poster.jpg",
        "/\\evil.example/poster.jpg",
        "https:///poster.jpg",
        "https://cdn.example.com/my poster.jpg",
        "http://[::1/poster.jpg",
    ],
)
def test_system_check_reports_an_image_url_that_is_not_http_or_a_site_path(settings, url):
    settings.WAITLIST_EVENT_IMAGE_URL = url

    [error] = event_check_errors()

    assert error.id == "waitlist.E003"
    assert error.msg == (
        f"WAITLIST_EVENT_IMAGE_URL {url!r} is neither an absolute http(s) URL nor a path "
        'on this site starting with "/".'
    )


@pytest.mark.parametrize(
    "url", ["https://cdn.example.com/poster.jpg", "http://localhost:8000/p.png", "/static/p.png"]
)
def test_system_check_accepts_http_urls_and_site_paths(settings, url):
    settings.WAITLIST_EVENT_IMAGE_URL = url

    assert event_check_errors() == []
