"""The site under gunicorn with DJANGO_DEBUG=0: a fan signs up over real HTTP, CSS is served."""

import http.cookiejar
import re
import secrets
import sqlite3
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.subprocesses import free_port, run_manage, start_gunicorn, wait_until_serving


@pytest.fixture
def production_site(tmp_path):
    """gunicorn serving a fresh SQLite database with production settings (plain HTTP)."""
    database = tmp_path / "site.sqlite3"
    environment = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{database}",
        "STATIC_ROOT": str(tmp_path / "static"),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "BACKUP_DIR": str(tmp_path / "backups"),
    }
    for args in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        result = run_manage(*args, **environment)
        assert result.returncode == 0, result.stderr
    port = free_port()
    server = start_gunicorn(port=port, workers=2, **environment)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_serving(server, port=port, path="/thanks/")
    yield base_url, database
    server.terminate()
    server.wait(timeout=10)


def test_fan_signs_up_through_gunicorn_with_debug_off(production_site):
    base_url, database = production_site
    cookies = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))

    page = browser.open(base_url + "/").read().decode()
    css_path = re.search(r'href="(/static/waitlist/site\.[0-9a-f]{12}\.css)"', page).group(1)
    css = browser.open(base_url + css_path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "full_name": "Zoë Ångström",
            "email": "Zoe@Example.com",
            "consent": "on",
        }
    ).encode()
    thanks = browser.open(urllib.request.Request(base_url + "/", data=form, method="POST"))

    assert css.status == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert thanks.url == base_url + "/thanks/"
    assert "on the list" in thanks.read().decode()
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT full_name, email FROM waitlist_responses").fetchall()
    assert rows == [("Zoë Ångström", "zoe@example.com")]


def test_security_headers_are_sent(production_site):
    base_url, _ = production_site

    response = urllib.request.urlopen(base_url + "/")

    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
