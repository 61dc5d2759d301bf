"""Every page a person sees, at a laptop, a wide screen and a phone: it loads, it fits the width,
and a screenshot of it is left in test-artifacts/ (page-<name>-<width>.png) to look at."""

import pytest
from django.test import override_settings

from backups_app.models import Backup, Export
from backups_app.services import backup_create, waitlist_export_csv
from tests.e2e.conftest import PASSWORD, log_in
from tests.factories import SchemaChangeFactory, SignupFactory
from waitlist import erasure_links
from waitlist.services import erasure_request_create, signup_erase

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {"1280": (1280, 800), "1440": (1440, 900), "390": (390, 844)}


@pytest.fixture
def site_with_data(backup_dir, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    signups = SignupFactory.create_batch(4)
    backup = backup_create(kind=Backup.Kind.MANUAL)
    backup_create(kind=Backup.Kind.AUTO)
    waitlist_export_csv(triggered_by="boss")
    change = SchemaChangeFactory()
    erasure = signup_erase(email=signups[1].email, erased_by="admin:boss", reason="asked by mail")
    request = erasure_request_create(email=signups[2].email)
    return {
        "erasure": erasure.erasure.pk,
        "request": request.pk,
        "signup": signups[0].pk,
        "backup": backup.pk,
        "export": Export.objects.get().pk,
        "change": change.pk,
    }


def fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def visit(page, url: str, name: str, artifacts_dir, *, status: int = 200) -> None:
    """Load `url` at every viewport; it answers `status` and never scrolls sideways."""
    for label, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        response = page.goto(url)
        assert response.status == status, f"{name}: {response.status}"
        page.screenshot(path=artifacts_dir / f"page-{name}-{label}.png", full_page=True)
        assert fits_the_width(page), f"{name} scrolls sideways at {width} px"


def test_public_pages_fit_every_screen(page, live_site, artifacts_dir, settings):
    visit(page, live_site.url + "/", "signup", artifacts_dir)
    # What a browser and a link preview fetch beside the page.
    icon = page.locator('link[rel="icon"]').first.get_attribute("href")
    assert page.request.get(live_site.url + icon).status == 200
    assert page.request.get(live_site.url + "/favicon.ico").status == 200
    og_url = page.locator('meta[property="og:url"]').get_attribute("content")
    assert og_url == live_site.url + "/"
    assert page.locator('meta[property="og:title"]').get_attribute("content")
    visit(page, live_site.url + "/thanks/", "thanks", artifacts_dir)
    visit(page, live_site.url + "/remove/", "remove", artifacts_dir)
    visit(page, live_site.url + "/remove/sent/", "remove-sent", artifacts_dir)
    token = erasure_links.make_token("fan@example.com")
    visit(page, live_site.url + f"/remove/confirm/{token}/", "remove-confirm", artifacts_dir)
    visit(
        page, live_site.url + "/remove/confirm/nonsense/", "remove-bad", artifacts_dir, status=400
    )
    visit(page, live_site.url + "/no-such-page/", "404", artifacts_dir, status=404)


@override_settings(SIGNUP_RATE_LIMIT="1/m")
def test_the_busy_page_fits_every_screen(page, live_site, artifacts_dir):
    page.goto(live_site.url + "/")
    page.get_by_role("button", name="Join the waitlist").click()  # the one allowed (invalid) try
    page.goto(live_site.url + "/")
    page.get_by_role("button", name="Join the waitlist").click()

    assert page.get_by_role("heading", name="So many fans at once!").is_visible()
    for label, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=artifacts_dir / f"page-busy-{label}.png", full_page=True)
        assert fits_the_width(page), f"the busy page scrolls sideways at {width} px"


def test_admin_pages_fit_every_screen(page, live_site, artifacts_dir, site_with_data):
    visit(page, live_site.url + "/admin/login/", "admin-login", artifacts_dir)
    log_in(page, live_site)

    admin = live_site.url + "/admin/"
    ids = site_with_data
    for name, path in [
        ("admin-index", ""),
        ("admin-signups", "waitlist/signup/"),
        ("admin-signup", f"waitlist/signup/{ids['signup']}/change/"),
        ("admin-backups", "backups_app/backup/"),
        ("admin-backup", f"backups_app/backup/{ids['backup']}/change/"),
        ("admin-restore", f"backups_app/backup/{ids['backup']}/restore/"),
        ("admin-exports", "backups_app/export/"),
        ("admin-export", f"backups_app/export/{ids['export']}/change/"),
        ("admin-schema-changes", "backups_app/schemachange/"),
        ("admin-schema-change", f"backups_app/schemachange/{ids['change']}/change/"),
        ("admin-erasures", "waitlist/erasure/"),
        ("admin-erasure", f"waitlist/erasure/{ids['erasure']}/change/"),
        ("admin-erasure-requests", "waitlist/erasurerequest/"),
        ("admin-erasure-request", f"waitlist/erasurerequest/{ids['request']}/change/"),
    ]:
        visit(page, admin + path, name, artifacts_dir)


def test_a_restore_test_from_the_list_names_the_backup_as_its_file_is_named(
    page, live_site, site_with_data
):
    log_in(page, live_site, next_url="/admin/backups_app/backup/")
    assert page.locator("h1").inner_text() == "Backups"
    backup = Backup.objects.get(pk=site_with_data["backup"])

    page.locator(f'input[name="_selected_action"][value="{backup.pk}"]').check()
    page.select_option('select[name="action"]', "verify_with_restore_test")
    page.get_by_role("button", name="Go").click()

    message = page.locator("ul.messagelist li").first.inner_text()
    assert message.startswith(f"Restore test of {backup.name}: ")
