"""A real browser (Debian's Chromium driven by Playwright) against Django's live server."""

import os
from pathlib import Path

import pytest
from django.db import connections
from django.test.testcases import LiveServerThread

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run the browser tests")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in the test thread, where Django would
    # refuse the ORM calls of the tests and of the database set-up. Allowed only while it runs.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _launched_chromium(sync_playwright)
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def _launched_chromium(sync_playwright):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_site):
    # Depends on live_site so the browser, and its keep-alive connections, close before the server.
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def export_dir(backup_dir, settings) -> Path:
    """The site's EXPORT_DIR in the test's own folder (tests/conftest.py's backup_dir sets it)."""
    return settings.EXPORT_DIR


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def live_site(transactional_db):
    """Django's live server with static files served the production way, by WhiteNoise.

    pytest-django's own fixture puts Django's finder-based static handler in front, which cannot
    serve the hashed names that production templates link; here the request reaches the project's
    middleware, so the browser sees exactly what a deployed site sends.
    """
    shared = {}
    for connection in connections.all():
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            shared[connection.alias] = connection
            connection.inc_thread_sharing()
    thread = LiveServerThread("localhost", lambda application: application, shared, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield LiveSite(url=f"http://localhost:{thread.port}")
    thread.terminate()
    for connection in shared.values():
        connection.dec_thread_sharing()


class LiveSite:
    def __init__(self, *, url: str) -> None:
        self.url = url


PASSWORD = "correct-horse-battery-staple-42"


def log_in(page, live_site, *, username: str = "boss", next_url: str = "/admin/") -> None:
    """Log in to admin through its login form as `username` (password PASSWORD) and wait for
    `next_url`, where the form sends the browser."""
    page.goto(f"{live_site.url}/admin/login/?next={next_url}")
    submit_login(page, live_site, username=username, next_url=next_url)


def submit_login(page, live_site, *, username: str = "boss", next_url: str = "/admin/") -> None:
    """Fill in and send the admin login form the page shows; wait for `next_url`."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_site.url + next_url)
