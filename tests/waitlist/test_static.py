"""The public page works with DJANGO_DEBUG=0: WhiteNoise serves its (hashed, compressed) CSS."""

import re

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


def test_tests_run_with_debug_off():
    assert settings.DEBUG is False


def test_page_links_hashed_css_and_whitenoise_serves_it():
    client = Client()  # a fresh handler, so WhiteNoise indexes the collected files
    html = client.get("/").content.decode()

    match = re.search(r'href="(/static/waitlist/site\.[0-9a-f]{12}\.css)"', html)
    assert match, "the page does not link the hashed stylesheet"
    css = client.get(match.group(1))

    assert css.status_code == 200
    assert css["Content-Type"].startswith("text/css")
    assert "max-age=" in css["Cache-Control"]
    assert b".card" in b"".join(css.streaming_content)


def test_css_is_served_compressed_to_browsers_that_accept_it():
    client = Client()
    html = client.get("/").content.decode()
    href = re.search(r'href="(/static/waitlist/site\.[0-9a-f]{12}\.css)"', html).group(1)

    response = client.get(href, HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Content-Encoding"] in {"gzip", "br"}


def test_page_loads_nothing_from_another_host():
    html = Client().get("/").content.decode()

    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_favicon_ico_is_a_real_icon_for_every_page_the_admin_too():
    client = Client()

    response = client.get("/favicon.ico")
    head = client.head("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert "max-age=" in response["Cache-Control"]
    # An ICO directory (reserved 0, type 1) with the 32 and 16 pixel PNG images it names.
    assert response.content[:4] == b"\x00\x00\x01\x00"
    assert response.content[4] == 2
    assert response.content.count(b"\x89PNG\r\n\x1a\n") == 2
    assert head.status_code == 200
    assert client.post("/favicon.ico").status_code == 405


def test_pages_link_the_icon_and_the_svg_icon_is_served():
    client = Client()
    html = client.get("/").content.decode()

    assert '<link rel="icon" href="/favicon.ico"' in html
    match = re.search(r'href="(/static/waitlist/favicon\.[0-9a-f]{12}\.svg)"', html)
    assert match, "the page does not link the hashed SVG icon"
    svg = client.get(match.group(1))
    assert svg.status_code == 200
    assert svg["Content-Type"].startswith("image/svg+xml")


def test_pages_load_their_script_from_a_static_file_and_nothing_inline():
    client = Client()
    for url in ["/", "/thanks/", "/no-such-page/"]:
        html = client.get(url).content.decode()

        match = re.search(r'<script src="(/static/waitlist/site\.[0-9a-f]{12}\.js)" defer>', html)
        assert match, f"{url} does not load the hashed script"
        assert len(re.findall(r"<script", html)) == 1, f"{url} has an inline script"
        assert " style=" not in html, f"{url} has an inline style"
    script = client.get(match.group(1))
    assert script.status_code == 200
    assert b"data-error-summary" in b"".join(script.streaming_content)
