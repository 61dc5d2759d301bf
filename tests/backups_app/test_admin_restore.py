"""The restore confirmation page of a backup in Django admin, through admin_client (§6.2)."""

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.test.html import parse_html

from backups_app import files
from backups_app.exceptions import VerificationError
from backups_app.models import Backup
from backups_app.services import backup_create, backup_restore_preview
from tests.assertions import assert_contains_all
from tests.backups_app.conftest import restore_url, staff_with
from tests.factories import SignupFactory
from tests.pages import by_id, elements, messages_on, operations, page_of, text
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/backups_app/backup/"
LOGIN = "/admin/login/"
LOGGED_OUT = (
    "Staff accounts were replaced by the backup's, so you have been logged out; log in with an "
    "account from the backup."
)


def test_restore_page_says_in_words_what_a_restore_will_do(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory.create_batch(2)

    effects = text(by_id(page_of(admin_client.get(restore_url(backup))), "restore-effects"))

    assert_contains_all(
        effects,
        [
            "3 signups in this backup will be brought back",
            "2 signups added since the backup will be kept",
            "No signup will be removed.",
            "would remove the 2 signups added since the backup",
            "Staff accounts and passwords are kept",
            # admin_client's account, the one account there was when the backup was taken.
            "replace them with the backup's 1 account, which logs everyone out",
        ],
    )


def test_restore_page_counts_no_signup_it_cannot_tell_apart(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory()
    # A backup catalogued before backups recorded their newest signup.
    Backup.objects.filter(pk=backup.pk).update(newest_signup_id=None)

    effects = text(by_id(page_of(admin_client.get(restore_url(backup))), "restore-effects"))

    assert "Every signup added since the backup will be kept" in effects
    assert "would remove the signups added since the backup" in effects


def test_compare_puts_its_exact_numbers_into_the_words(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="zoe@example.com").delete()
    SignupFactory(email="later@example.com")

    page = page_of(admin_client.post(restore_url(backup), {"operation": "compare"}))

    effects = text(by_id(page, "restore-effects"))
    assert "3 signups in this backup will be brought back" in effects
    assert "(1 of them is missing from the live table now)" in effects
    assert "1 signup added since the backup will be kept" in effects
    assert "removes the 1 live signup this backup lacks" in text(by_id(page, "restore-exact"))


def test_restore_page_offers_to_replace_the_accounts_and_says_who_is_logged_out(
    admin_client, signups
):
    backup = backup_create(kind=Backup.Kind.MANUAL)  # admin_client's account is in it

    danger = by_id(page_of(admin_client.get(restore_url(backup))), "restore-danger")

    [checkbox] = elements(danger, "input", name="include_accounts")
    assert ("type", "checkbox") in checkbox.attributes
    assert (
        "Also replace the staff accounts and passwords with the backup's 1 account: their "
        "sessions replace today's, so everyone, you included, is logged out"
    ) in text(danger)


def test_restore_page_folds_the_manifest_and_names_the_tables(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    html = admin_client.get(restore_url(backup)).content.decode()
    page = parse_html(html)

    manifest = by_id(page, "restore-manifest")
    assert manifest.name == "details"
    [summary] = elements(manifest, "summary")
    assert text(summary) == "Backup manifest (technical)"
    assert backup.sha256 in text(manifest)
    assert html.count(backup.sha256) == 1  # nowhere else, unfolded

    tables = by_id(page, "restore-tables")
    assert tables.name == "details"
    rows = [text(row) for row in elements(tables, "tr")]
    assert "Signups waitlist_responses 3 3" in rows
    assert "Staff accounts auth_user 1 1" in rows


def test_destructive_buttons_stand_in_a_danger_zone_apart_from_the_safe_ones(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory()

    page = page_of(admin_client.post(restore_url(backup), {"operation": "compare"}))

    safe, danger = by_id(page, "restore-safe"), by_id(page, "restore-danger")
    assert operations(safe) == {"compare", "merge"}
    assert operations(danger) == {"restore", "restore_exact"}
    assert operations(page) == {"compare", "merge", "restore", "restore_exact"}
    assert not elements(safe, id="restore-danger")  # apart, not nested
    for button in elements(danger, "button", name="operation"):
        assert ("class", "button restore-danger-button") in button.attributes
    for button in elements(safe, "button", name="operation"):
        assert "restore-danger-button" not in dict(button.attributes)["class"]
    # Each section confirms with its own name field, so nothing typed for one posts the other.
    assert len(elements(safe, "input", name="confirm_name")) == 1
    assert len(elements(danger, "input", name="confirm_name")) == 1


@pytest.mark.parametrize("operation", ["restore", "merge", "restore_exact"])
def test_a_wrong_typed_name_changes_nothing(admin_client, signups, operation):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="zoe@example.com").delete()
    later = SignupFactory(email="later@example.com")

    response = admin_client.post(
        restore_url(backup),
        {
            "operation": operation,
            "confirm_name": "backup-wrong.sql",
            "newest_live_id": str(later.pk),
            "confirm_count": "1",
        },
    )

    assert "does not match this backup; nothing was changed" in response.content.decode()
    assert sorted(Signup.objects.values_list("email", flat=True)) == [
        "ada@example.com",
        "grace@example.com",
        "later@example.com",
    ]
    assert not Backup.objects.filter(kind=Backup.Kind.PRE_RESTORE).exists()


def test_restore_with_the_typed_name_brings_the_data_back(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    SignupFactory(email="later@example.com")

    response = admin_client.post(
        restore_url(backup), {"operation": "restore", "confirm_name": backup.name}, follow=True
    )

    assert Signup.objects.count() == 4  # the backup's three and the later one, kept
    safety = Backup.objects.get(kind=Backup.Kind.PRE_RESTORE, pinned=True)
    assert (
        f"Restored {backup.name} in " in messages_on(response)
        and "1 signup(s) it lacked were kept, staff accounts kept" in messages_on(response)
        and f"The data before it is in {safety.name} (pinned)." in messages_on(response)
    )
    # The admin account did not exist when the backup was taken: it was kept, still logged in.
    assert admin_client.get(CHANGELIST).status_code == 200


def test_compare_says_how_many_later_signups_an_exact_restore_would_remove(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory(email="later-1@example.com")
    SignupFactory(email="later-2@example.com")

    html = admin_client.post(restore_url(backup), {"operation": "compare"}).content.decode()

    assert "2 live signups are not in this backup" in html
    assert 'name="confirm_count"' in html
    assert "removes the 2 live signups" in html


def test_exact_restore_needs_comparing_first(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory(email="later@example.com")

    refused = admin_client.post(
        restore_url(backup),
        {"operation": "restore_exact", "confirm_name": backup.name, "confirm_count": "1"},
    )

    assert "Compare with live first; nothing was changed." in refused.content.decode()
    assert Signup.objects.filter(email="later@example.com").exists()
    assert not Backup.objects.filter(kind=Backup.Kind.PRE_RESTORE).exists()


def test_exact_restore_needs_the_number_of_removed_signups_typed(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    later = SignupFactory(email="later@example.com")
    compared = admin_client.post(restore_url(backup), {"operation": "compare"})
    assert f'name="newest_live_id" value="{later.pk}"' in compared.content.decode()
    assert 'name="later" value="1"' in compared.content.decode()
    seen = {
        "operation": "restore_exact",
        "confirm_name": backup.name,
        "newest_live_id": str(later.pk),
        "later": "1",
    }

    refused = admin_client.post(restore_url(backup), {**seen, "confirm_count": "2"})
    assert "type that number; nothing was changed" in refused.content.decode()
    assert Signup.objects.filter(email="later@example.com").exists()
    assert not Backup.objects.filter(kind=Backup.Kind.PRE_RESTORE).exists()

    done = admin_client.post(restore_url(backup), {**seen, "confirm_count": "1"}, follow=True)
    assert "1 signup(s) it lacked were removed" in messages_on(done)
    assert not Signup.objects.filter(email="later@example.com").exists()
    assert Signup.objects.count() == 3


def test_exact_restore_never_removes_a_signup_newer_than_the_comparison(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    spam = SignupFactory(email="spam@example.com")
    seen_newest = spam.pk
    admin_client.post(restore_url(backup), {"operation": "compare"})
    spam.delete()  # meanwhile: the spam goes, a real fan arrives; still one to remove
    SignupFactory(email="real-fan@example.com")

    refused = admin_client.post(
        restore_url(backup),
        {
            "operation": "restore_exact",
            "confirm_name": backup.name,
            "newest_live_id": str(seen_newest),
            "later": "1",
            "confirm_count": "1",
        },
    )

    assert "arrived after it was confirmed" in refused.content.decode()
    assert Signup.objects.filter(email="real-fan@example.com").exists()
    # The refusal compares again, so the page offers the numbers as they are now.
    assert f'name="newest_live_id" value="{Signup.objects.latest("pk").pk}"' in (
        refused.content.decode()
    )


def test_compare_with_live_and_reinsert_missing(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="zoe@example.com").delete()

    compared = admin_client.post(restore_url(backup), {"operation": "compare"})
    still_missing = not Signup.objects.filter(email="zoe@example.com").exists()
    admin_client.post(restore_url(backup), {"operation": "merge", "confirm_name": backup.name})

    assert "1 signup in this backup is missing" in compared.content.decode()
    assert "zoe@example.com" in compared.content.decode()
    assert still_missing
    assert Signup.objects.filter(email="zoe@example.com").exists()


def test_a_post_without_an_operation_changes_nothing(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()

    response = admin_client.post(restore_url(backup), {"confirm_name": backup.name})

    assert "Choose what to do." in response.content.decode()
    assert Signup.objects.count() == 0


def test_staff_without_restore_permission_cannot_restore(client, django_user_model, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    client.force_login(staff_with(django_user_model, "view_backup", "create_backup"))

    changelist = client.get(CHANGELIST).content.decode()
    page = client.get(restore_url(backup))
    post = client.post(restore_url(backup), {"operation": "restore", "confirm_name": backup.name})

    assert "Restore…" not in changelist
    assert "Download" not in changelist
    assert page.status_code == 403
    assert post.status_code == 403
    assert Signup.objects.count() == 0


def test_restore_with_the_backups_accounts_explains_the_logout_on_the_login_page(
    client, django_user_model, signups
):
    boss = django_user_model.objects.create_superuser("boss", "b@example.com", "a-long-pass-1")
    client.force_login(boss)
    # Taken from this very session: the backup holds the account and the session itself.
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()

    response = client.post(
        restore_url(backup),
        {"operation": "restore", "confirm_name": backup.name, "include_accounts": "on"},
    )
    login = client.get(response["Location"])

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=%2Fadmin%2Fbackups_app%2Fbackup%2F"
    # The explanation first, then what the restore did.
    assert messages_on(login).startswith(f"Restored {backup.name}. {LOGGED_OUT} The restore took")
    assert "0 signup(s) it lacked were kept" in messages_on(login)
    assert elements(page_of(login), "form", id="login-form")
    assert Signup.objects.count() == 3
    # Logged out, even though the backup's copy of the session came back with the accounts.
    assert client.get(CHANGELIST)["Location"].startswith(LOGIN)


def test_the_logout_explanation_survives_a_report_too_big_for_the_cookie(
    client, django_user_model, signups, monkeypatch
):
    backup = backup_create(kind=Backup.Kind.MANUAL)  # before any account existed
    client.force_login(
        django_user_model.objects.create_superuser("boss", "b@example.com", "a-long-pass-1")
    )
    # Django's messages go to the session when they do not fit in their cookie (a report of
    # many dropped tables or a long journal summary does not): here nothing fits. Saved into
    # the session that the backup's sessions replaced, the report was lost in a 400 error.
    monkeypatch.setattr(CookieStorage, "max_cookie_size", 1)

    response = client.post(
        restore_url(backup),
        {"operation": "restore", "confirm_name": backup.name, "include_accounts": "on"},
        follow=True,
    )

    assert response.redirect_chain == [(f"{LOGIN}?next=%2Fadmin%2Fbackups_app%2Fbackup%2F", 302)]
    assert LOGGED_OUT in messages_on(response)
    assert not django_user_model.objects.exists()


def test_restore_page_names_the_tables_a_restore_would_drop(admin_client, signups, add_newer_table):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    add_newer_table()

    html = admin_client.get(restore_url(backup)).content.decode()

    assert "Tables newer than the backup will be dropped:" in html
    assert "<code>vip_notes</code> (1 row)" in html


def test_the_page_shows_what_the_preview_service_returns(admin_client, signups, add_newer_table):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="zoe@example.com").delete()
    SignupFactory.create_batch(2)
    add_newer_table()

    preview = backup_restore_preview(name=backup.name, compare=False, check_files=False)
    page = page_of(admin_client.get(restore_url(backup)))

    assert not preview.compared
    assert (preview.backup_signups, preview.live_signups, preview.signups_added_since) == (3, 4, 2)
    assert (preview.backup_accounts, preview.tables_newer) == (1, {"vip_notes": 1})
    assert preview.table_rows["waitlist_responses"] == (3, 4)
    assert preview.created_at == backup.manifest["created_at"]
    effects = text(by_id(page, "restore-effects"))
    assert "3 signups in this backup will be brought back" in effects
    assert "2 signups added since the backup will be kept" in effects
    assert "The live table has 4 now." in effects
    assert "the backup's 1 account" in effects
    assert "Tables newer than the backup will be dropped: vip_notes (1 row)" in effects
    assert "Signups waitlist_responses 3 4" in [
        text(row) for row in elements(by_id(page, "restore-tables"), "tr")
    ]


def test_compare_shows_what_the_preview_service_returns(admin_client, signups, add_newer_table):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="zoe@example.com").delete()
    later = SignupFactory(email="later@example.com")
    add_newer_table()

    preview = backup_restore_preview(name=backup.name)
    page = page_of(admin_client.post(restore_url(backup), {"operation": "compare"}))

    assert preview.compared
    assert (preview.backup_signups, preview.live_signups) == (3, 3)
    assert (preview.brought_back, preview.later, preview.signups_added_since) == (1, 1, 1)
    assert (preview.newest_live_id, preview.tables_newer) == (later.pk, {"vip_notes": 1})
    assert preview.created_at == backup.manifest["created_at"]
    assert [row["email"] for row in preview.sample] == ["zoe@example.com"]
    comparison = text(by_id(page, "restore-comparison"))
    assert "1 signup in this backup is missing from the live table" in comparison
    assert "1 live signup is not in this backup." in comparison
    assert "zoe@example.com" in comparison
    effects = text(by_id(page, "restore-effects"))
    assert "1 signup added since the backup will be kept" in effects
    assert "The live table has 3 now." in effects
    assert "Tables newer than the backup will be dropped: vip_notes (1 row)" in effects
    [newest] = elements(by_id(page, "restore-exact"), "input", name="newest_live_id")
    assert ("value", str(later.pk)) in newest.attributes
    [removes] = elements(by_id(page, "restore-exact"), "input", name="later")
    assert ("value", str(preview.later)) in removes.attributes


def test_the_page_preview_reads_the_catalogue_not_the_files(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    (backup_dir / files.manifest_name_for(backup.name)).unlink()

    preview = backup_restore_preview(name=backup.name, compare=False, check_files=False)

    assert (preview.name, preview.backup_signups, preview.live_signups) == (backup.name, 3, 3)
    with pytest.raises(VerificationError, match=r"The manifest .* is missing"):
        backup_restore_preview(name=backup.name, compare=False)
