"""Staff in a real browser read the schema-change ledger that guarded migrations wrote (§7)."""

import io

import pytest
from django.core.management import CommandError, call_command

from backups_app.models import SchemaChange
from tests.e2e.conftest import PASSWORD, log_in
from tests.factories import SchemaChangeFactory, quiet_operation, risky_plan
from tests.migration_lab.lab import lab_app

pytestmark = pytest.mark.django_db(transaction=True)

NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
TABLE_FITS = "(r => r.scrollWidth <= r.clientWidth)(document.querySelector('#changelist .results'))"


def test_superuser_reads_a_refused_and_an_overridden_migration_in_the_ledger(
    page, live_site, settings, tmp_path, django_user_model, artifacts_dir
):
    settings.BACKUP_DIR = tmp_path / "backups"
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    with lab_app(tmp_path / "lab") as lab:
        call_command("migrate", "migration_lab", "0001", verbosity=0)
        lab.insert_rows()
        lab.migration("0002_drop_nickname", 'migrations.RemoveField("entry", "nickname"),')
        with pytest.raises(CommandError, match="Refused"):
            call_command("migrate", "migration_lab", verbosity=0)
        call_command(
            "migrate",
            "migration_lab",
            allow_dangerous=True,
            reason="nicknames moved to the CRM",
            stdout=io.StringIO(),
        )
    applied = SchemaChange.objects.get(outcome="applied", reason="nicknames moved to the CRM")

    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_site, next_url="/admin/backups_app/schemachange/")

    rows = page.locator("#result_list tbody tr")
    assert "Refused" in rows.nth(1).inner_text() or "refused" in rows.nth(1).inner_text()
    assert page.get_by_role("link", name=applied.backup_name).is_visible()
    page.get_by_role("link", name=f"#{applied.pk} ").click()

    page.wait_for_selector("text=drops column nickname")
    assert page.get_by_text(f"manage.py rollback_schema_change {applied.pk}").is_visible()
    assert page.get_by_role("button", name="Save").count() == 0  # an audit trail: read-only
    page.screenshot(path=artifacts_dir / "admin-schema-changes.png", full_page=True)


def test_a_long_plan_shows_its_risky_operation_on_a_short_page(
    page, live_site, django_user_model, artifacts_dir
):
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    plan = risky_plan()
    plan["operations"] = [
        *(quiet_operation(n) for n in range(1, 15)),
        plan["operations"][0],
        *(quiet_operation(n) for n in range(15, 30)),
    ]
    change = SchemaChangeFactory(
        plan=plan,
        migrations=[f"waitlist.{n:04}_tidy" for n in range(1, 30)],
        reason="phone numbers are no longer collected, as agreed with the data protection "
        "officer in the review of March",
    )
    SchemaChangeFactory(  # a second row, with the longest values the list shows
        outcome=SchemaChange.Outcome.REFUSED,
        backup_name="",
        triggered_by="someone.with.a.long.name@deploy-host-01.example.org",
    )

    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_site, next_url="/admin/backups_app/schemachange/")

    listed = page.locator("#result_list tbody").inner_text()
    assert "waitlist.0001_tidy\nwaitlist.0002_tidy\nwaitlist.0003_tidy (+26 more)" in listed
    assert "someone.with.a.long.name@deploy-host-01.example.org" in listed
    page.screenshot(path=artifacts_dir / "admin-schema-list-1280.png", full_page=True)
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    assert page.evaluate(TABLE_FITS)

    page.goto(f"{live_site.url}/admin/backups_app/schemachange/{change.pk}/change/")
    risky = page.locator("table.plan-risky").get_by_text("Remove field phone from signup")
    folded = page.locator("details.plan-quiet")

    assert risky.is_visible()
    assert folded.locator("summary").inner_text() == "29 operations with no risk"
    quiet = folded.get_by_role("cell").filter(has_text="Create model Thing7")
    assert not quiet.is_visible()
    page.screenshot(path=artifacts_dir / "admin-schema-change-1280.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollHeight") < 1600
    assert page.evaluate(NO_HORIZONTAL_SCROLL)

    folded.locator("summary").click()
    assert quiet.is_visible()
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
