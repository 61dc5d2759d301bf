"""Staff in a real browser: the signup list fits the screen, and its CSV export is recorded."""

import datetime
from pathlib import Path

import pytest

from backups_app.models import Export
from tests.e2e.conftest import PASSWORD, log_in
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)

NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def signups_page(page, live_site, django_user_model):
    """The signup list, logged in as a superuser, with signups as long as real ones get."""
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    SignupFactory(
        full_name="Maximiliane Alexandra von Habsburg-Lothringen",
        email="maximiliane.habsburg@example.co.uk",
        country="United Kingdom of Great Britain and Northern Ireland",
        city="Santiago de Compostela",
        consent=True,
        created_at=datetime.datetime(2025, 12, 24, 23, 59, tzinfo=datetime.UTC),
    )
    SignupFactory(
        full_name="Ada Lovelace", email="ada@example.com", city="", country="UK", consent=False
    )
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_site, next_url="/admin/waitlist/signup/")
    return page


def test_signup_list_shows_when_people_signed_up_without_scrolling_sideways(
    signups_page, artifacts_dir
):
    page = signups_page
    signed_up = page.locator("#result_list thead th.column-signed_up")
    consent = page.locator("#result_list thead th.column-consent_given")

    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    # Nor does the table scroll inside its own box: every column is on screen.
    assert page.evaluate(
        "(r => r.scrollWidth <= r.clientWidth)(document.querySelector('#changelist .results'))"
    )
    assert signed_up.inner_text().strip().lower() == "signed up"
    assert consent.inner_text().strip().lower() == "consent"
    box = signed_up.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 1280
    # The consent column is a yes/no icon, not the words.
    assert page.locator("#result_list td.field-consent_given img[alt='True']").count() == 1
    assert page.locator("#result_list td.field-consent_given img[alt='False']").count() == 1
    assert page.locator("#result_list td.field-place").all_inner_texts() == [
        "UK",
        "Santiago de Compostela, United Kingdom of Great Britain and Northern Ireland",
    ]
    page.screenshot(path=artifacts_dir / "admin-signups-1280.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    page.screenshot(path=artifacts_dir / "admin-signups-390.png", full_page=True)


def test_export_selected_downloads_a_file_the_exports_page_lists(
    signups_page, live_site, export_dir, artifacts_dir
):
    page = signups_page
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("export_selected_to_csv")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Go").click()
    download = download_info.value

    export = Export.objects.get()
    assert download.suggested_filename == export.name
    assert (export_dir / export.name).read_bytes() == Path(download.path()).read_bytes()
    assert export.row_count == 2

    page.goto(live_site.url + "/admin/backups_app/export/")
    assert page.locator("#changelist .paginator").inner_text().strip() == "1 export"
    row = page.locator("#result_list tbody tr")
    assert row.count() == 1
    assert export.name in row.inner_text() and "boss" in row.inner_text()
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    page.screenshot(path=artifacts_dir / "admin-exports-1280.png", full_page=True)
