"""The backup catalogue in a real browser: it fits 1280 and 1440 px without scrolling sideways,
each row stays two lines high, and a phone reaches each row's Restore link."""

import re

import pytest

from backups_app.models import Backup
from backups_app.services import backup_create, backup_verify
from tests.e2e.conftest import PASSWORD, log_in
from tests.factories import SignupFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/backups_app/backup/"


@pytest.fixture
def catalogue(backup_dir) -> list[Backup]:
    """Six backups of every kind, newest first: one pinned, one restore-tested, one in which
    the signups shrank."""
    SignupFactory.create_batch(3)
    kinds = [
        Backup.Kind.SCHEDULED,
        Backup.Kind.PRE_MIGRATION,
        Backup.Kind.AUTO,
        Backup.Kind.PRE_RESTORE,
        Backup.Kind.MANUAL,
        Backup.Kind.AUTO,
    ]
    taken = [backup_create(kind=kind, pin=kind == Backup.Kind.MANUAL) for kind in kinds]
    backup_verify(backup=taken[0], restore_test=True)
    Backup.objects.filter(pk=taken[2].pk).update(
        shrink_detected=True, shrink_detail="3 signups, the backup before had 5"
    )
    return list(Backup.objects.all())


def log_in_as_boss(page, live_site, django_user_model, *, next_url: str) -> None:
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    log_in(page, live_site, next_url=next_url)


def scrolls_sideways(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


def table_scrolls_sideways(page) -> bool:
    return page.evaluate(
        "(box => box.scrollWidth > box.clientWidth)"
        "(document.querySelector('#changelist-form .results'))"
    )


def in_view_and_uncovered(page, link) -> bool:
    """Whether the link lies inside the window and a tap at its middle reaches it (nothing
    clips or covers it), once scrolled to as a person would."""
    link.scroll_into_view_if_needed()
    return link.evaluate(
        """link => {
            const box = link.getBoundingClientRect();
            if (box.left < 0 || box.top < 0 || box.right > innerWidth || box.bottom > innerHeight)
                return false;
            const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
            return link === hit || link.contains(hit);
        }"""
    )


def test_the_catalogue_fits_a_laptop_screen(
    page, live_site, django_user_model, catalogue, artifacts_dir
):
    log_in_as_boss(page, live_site, django_user_model, next_url=CHANGELIST)
    rows = page.locator("#result_list tbody tr")
    line = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('#result_list td')).lineHeight)"
    )

    for width, height in [(1280, 800), (1440, 900)]:
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=artifacts_dir / f"admin-backups-{width}.png", full_page=True)

        assert not scrolls_sideways(page), width
        assert not table_scrolls_sideways(page), width
        assert rows.count() == len(catalogue)
        for i in range(rows.count()):
            row = rows.nth(i)
            for name in ("Download", "Restore…"):
                assert in_view_and_uncovered(page, row.get_by_role("link", name=name)), (
                    width,
                    i,
                    name,
                )
            # No more names wrapped onto five lines: a row is two (its time, then its age)
            # between the cells' padding of 8 px above and below.
            assert row.bounding_box()["height"] < 3 * line + 16, (width, i)


def test_the_catalogue_reads_at_a_glance(page, live_site, django_user_model, catalogue):
    log_in_as_boss(page, live_site, django_user_model, next_url=CHANGELIST)
    page.set_viewport_size({"width": 1280, "height": 800})
    newest = catalogue[0]

    first_row = page.locator("#result_list tbody tr").first
    status = page.locator("#backup-status")

    time = first_row.locator(f'[title="{newest.name}"]')  # the file name, on hover
    assert re.fullmatch(r"\d{1,2} \w{3} \d\d:\d\d:\d\d", time.inner_text())
    assert first_row.locator(".backup-age").inner_text() == "just now"
    assert time.is_visible()
    assert page.get_by_role("link", name=newest.name).count() == 1  # and to screen readers
    assert page.locator("#result_list tbody tr", has_text="pinned").count() == 1
    assert page.locator("#result_list tbody tr", has_text="shrank").count() == 1
    assert status.get_by_role("rowheader", name="Data at risk (RPO)").is_visible()
    assert "newest_backup" not in status.inner_text()
    assert page.get_by_role("img", name="Backup size and duration over time").is_visible()


def test_a_phone_reaches_each_rows_restore_link(
    page, live_site, django_user_model, catalogue, artifacts_dir
):
    log_in_as_boss(page, live_site, django_user_model, next_url=CHANGELIST)  # at 390 x 844
    page.screenshot(path=artifacts_dir / "admin-backups-390.png", full_page=True)

    restore = page.locator("#result_list tbody tr").first.get_by_role("link", name="Restore…")

    assert not scrolls_sideways(page)  # the page does not; the table scrolls in its box
    assert in_view_and_uncovered(page, restore)
    restore.click()
    page.wait_for_url(f"{live_site.url}{CHANGELIST}{catalogue[0].pk}/restore/")


def test_the_admin_index_offers_to_view_backups(page, live_site, django_user_model, artifacts_dir):
    log_in_as_boss(page, live_site, django_user_model, next_url="/admin/")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=artifacts_dir / "admin-index-1280.png", full_page=True)

    backups_row = page.locator("#content-main tr.model-backup")

    assert backups_row.get_by_role("link", name="View").is_visible()
    assert backups_row.get_by_role("link", name="Change").count() == 0
