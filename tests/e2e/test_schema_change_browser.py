"""Staff in a real browser read the schema-change ledger that guarded migrations wrote (§7)."""

import io

import pytest
from django.core.management import CommandError, call_command

from backups_app.models import SchemaChange
from tests.e2e.test_admin_browser import PASSWORD
from tests.migration_lab.lab import lab_app

pytestmark = pytest.mark.django_db(transaction=True)


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
    page.goto(live_site.url + "/admin/login/?next=/admin/backups_app/schemachange/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_site.url + "/admin/backups_app/schemachange/")

    rows = page.locator("#result_list tbody tr")
    assert "Refused" in rows.nth(1).inner_text() or "refused" in rows.nth(1).inner_text()
    assert page.get_by_role("link", name=applied.backup_name).is_visible()
    page.get_by_role("link", name=str(applied.pk), exact=True).click()

    page.wait_for_selector("text=drops column nickname")
    assert page.get_by_text(f"manage.py rollback_schema_change {applied.pk}").is_visible()
    assert page.get_by_role("button", name="Save").count() == 0  # an audit trail: read-only
    page.screenshot(path=artifacts_dir / "admin-schema-changes.png", full_page=True)
