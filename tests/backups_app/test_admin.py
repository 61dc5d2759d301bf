"""The backup catalogue in Django admin, through admin_client (§6.2)."""

import datetime
import json
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.utils import timezone

from backups_app import files
from backups_app.admin.status import duration, status_lines
from backups_app.health import Check
from backups_app.models import Backup
from backups_app.services import backup_create, backup_verify
from tests.backups_app.conftest import lose_manifest, staff_with

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/backups_app/backup/"


def listed_names(html: str) -> list[str]:
    """The file names of the listed backups, from their labels' titles."""
    return re.findall(r'class="field-label"><a [^>]*><span title="(backup-[^"]+)"', html)


def test_catalogue_shows_backups_at_a_glance(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL, pin=True)

    html = admin_client.get(CHANGELIST).content.decode()

    assert backup.name in html
    assert "Back up now" in html
    # A working link on the backup's own row, not just the column header.
    download = f"/admin/backups_app/backup/{backup.pk}/download/"
    assert f'href="{download}"' in html
    assert admin_client.get(download).status_code == 200


def test_back_up_now_takes_a_backup_and_logs_who(admin_client, admin_user, signups):
    response = admin_client.post(CHANGELIST + "backup-now/", follow=True)

    backup = Backup.objects.get()
    assert backup.triggered_by == admin_user.username
    assert f"Backed up to {backup.name}" in response.content.decode()
    assert LogEntry.objects.filter(user=admin_user, object_repr=backup.name).exists()


def test_back_up_now_refuses_get(admin_client, signups):
    assert admin_client.get(CHANGELIST + "backup-now/").status_code == 405
    assert not Backup.objects.exists()


def test_verify_action_runs_a_restore_test(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    admin_client.post(
        CHANGELIST, {"action": "verify_with_restore_test", "_selected_action": [backup.pk]}
    )

    backup.refresh_from_db()
    assert backup.restore_tested and backup.verification_ok


def test_pin_and_unpin_actions_change_the_manifest(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    admin_client.post(CHANGELIST, {"action": "pin", "_selected_action": [backup.pk]})
    backup.refresh_from_db()
    pinned = backup.pinned and backup.manifest["pinned"]
    admin_client.post(CHANGELIST, {"action": "unpin", "_selected_action": [backup.pk]})
    backup.refresh_from_db()

    assert pinned
    assert not backup.pinned and not backup.manifest["pinned"]


def test_rotate_now_applies_retention(admin_client, signups, settings):
    settings.BACKUP_RETENTION = 1
    first = backup_create(kind=Backup.Kind.MANUAL)
    backup_create(kind=Backup.Kind.MANUAL)

    page = admin_client.get(CHANGELIST).content.decode()
    response = admin_client.post(f"{CHANGELIST}rotate-now/", follow=True)

    # A button over the whole catalogue, not an action that ignored the ticked rows.
    assert 'action="/admin/backups_app/backup/rotate-now/"' in page
    assert 'value="rotate_now"' not in page
    assert "Rotation deleted 1 backup(s)." in response.content.decode()
    assert Backup.objects.count() == 1
    assert not Backup.objects.filter(pk=first.pk).exists()


def test_rotate_now_refuses_get_and_staff_without_the_create_permission(
    client, django_user_model, signups, settings
):
    settings.BACKUP_RETENTION = 1
    backup_create(kind=Backup.Kind.MANUAL)
    backup_create(kind=Backup.Kind.MANUAL)
    client.force_login(staff_with(django_user_model, "view_backup"))

    page = client.get(CHANGELIST).content.decode()
    refused = client.post(f"{CHANGELIST}rotate-now/")

    assert "rotate-now" not in page
    assert refused.status_code == 403
    assert client.get(f"{CHANGELIST}rotate-now/").status_code == 405
    assert Backup.objects.count() == 2


def test_superuser_downloads_the_dump(admin_client, signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    response = admin_client.get(f"{CHANGELIST}{backup.pk}/download/")

    assert response.status_code == 200
    assert f'filename="{backup.name}"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == (backup_dir / backup.name).read_bytes()


def test_staff_without_download_permission_cannot_download(client, django_user_model, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    client.force_login(staff_with(django_user_model, "view_backup"))

    response = client.get(f"{CHANGELIST}{backup.pk}/download/")

    assert response.status_code == 403


def test_staff_without_create_permission_cannot_back_up(client, django_user_model, signups):
    client.force_login(staff_with(django_user_model, "view_backup"))

    page = client.get(CHANGELIST).content.decode()
    response = client.post(CHANGELIST + "backup-now/")

    assert "Back up now" not in page
    assert response.status_code == 403
    assert not Backup.objects.exists()


def test_staff_with_create_permission_can_back_up(client, django_user_model, signups):
    client.force_login(staff_with(django_user_model, "view_backup", "create_backup"))

    client.post(CHANGELIST + "backup-now/")

    assert Backup.objects.count() == 1


def test_catalogue_cannot_be_edited_or_deleted_by_hand(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    assert admin_client.get(CHANGELIST + "add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{backup.pk}/delete/").status_code == 403


def status_panel(html: str) -> str:
    return re.search(r'<section id="backup-status".*?</section>', html, re.S).group(0)


def test_status_panel_shows_health_rpo_restore_test_disk_and_a_chart(admin_client, signups):
    first = backup_create(kind=Backup.Kind.MANUAL)
    backup_verify(backup=first, restore_test=True)
    backup_create(kind=Backup.Kind.MANUAL)

    html = admin_client.get(CHANGELIST).content.decode()

    panel = status_panel(html)
    assert "restored in" in panel
    assert "<svg" in panel and "<polyline" in panel
    # Drawn by the app itself: no chart library or stylesheet from another site (a bare "cdn"
    # check would trip over the random CSRF token).
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_status_panel_reads_in_words_and_plain_units(admin_client, signups):
    first = backup_create(kind=Backup.Kind.MANUAL)
    backup_verify(backup=first, restore_test=True)
    newest = backup_create(kind=Backup.Kind.MANUAL)

    panel = status_panel(admin_client.get(CHANGELIST).content.decode())

    labels = re.findall(r'<th scope="row"><img [^>]*> ([^<]+)</th>', panel)
    assert labels == [
        "Database",
        "Newest backup",
        "Data at risk (RPO)",
        "Last restore test",
        "Disk space",
        "Signup journal",
    ]
    text = re.sub(r"<[^>]+>", " ", panel).replace("\xa0", " ")
    for key in ("newest_backup", "restore_test", "rpo"):
        assert not re.search(rf"\b{key}\b", text), key  # the /health/ keys, not words
    assert f"just now ({newest.name})" in text
    assert "every signup is in a backup" in text
    assert re.search(r"restored in \d+ ms", text)
    assert re.search(r"\d+\.\d (MB|GB|TB) free of \d+\.\d (GB|TB)", text)
    assert " s old" not in text and "bytes" not in text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (45.4, "45 seconds"),
        (90, "1 minute 30 seconds"),
        (1201, "20 minutes"),
        (5400, "1 hour 30 minutes"),
        (86400, "1 day"),
        (12 * 86400 + 3600, "12 days"),
    ],
)
def test_durations_read_in_the_largest_units(seconds, words):
    assert duration(seconds) == words


def test_status_lines_say_waits_and_lags_in_minutes_and_hours():
    now = timezone.now()
    checks = [
        Check(
            "rpo",
            False,
            "a signup has waited 420 s for a backup",
            {
                "pending_requests": 2,
                "signups_newer_than_every_backup": 2,
                "oldest_waiting_seconds": 420.0,
                "rpo_seconds": 300,
            },
        ),
        Check(
            "offsite",
            True,
            "off-site lag 40 s",
            {"lag_seconds": 40.2, "max_lag_seconds": 900, "waiting": 2, "last_error": ""},
        ),
        Check(
            "newest_backup",
            False,
            "backup-x.sql is 10800 s old",
            {"name": "backup-x.sql", "age_seconds": 10800.0, "max_age_seconds": 5400.0},
        ),
        Check("disk", False, "could not be checked: OSError: gone"),
    ]

    lines = [
        (line.label, line.ok, line.detail.replace("\xa0", " "))
        for line in status_lines(checks, now=now)
    ]

    assert lines == [
        (
            "Data at risk (RPO)",
            False,
            "a signup has waited 7 minutes for a backup (5 minutes allowed)",
        ),
        (
            "Off-site copy",
            True,
            "2 backups waiting, the oldest for 40 seconds (15 minutes allowed)",
        ),
        (
            "Newest backup",
            False,
            "3 hours ago (backup-x.sql), older than the 1 hour 30 minutes allowed",
        ),
        ("Disk space", False, "could not be checked: OSError: gone"),
    ]


def test_where_column_and_filter_say_local_while_off_site_copies_are_off(
    admin_client, signups, backup_dir
):
    kept = backup_create(kind=Backup.Kind.MANUAL)
    gone = backup_create(kind=Backup.Kind.MANUAL)
    (backup_dir / gone.name).unlink()

    page = admin_client.get(CHANGELIST).content.decode()
    local_only = admin_client.get(CHANGELIST + "?where=local").content.decode()

    places = re.findall(r'class="field-where">(.*?)</td>', page)
    assert places == ["-", "local"]  # newest first: its dump is gone, and off-site is off
    assert listed_names(local_only) == [kept.name]


def test_messages_naming_a_backup_keep_its_lower_case_name(admin_client, signups):
    """Admin capitalises each message's first letter: a message must not start with the
    name (`backup-…` would read `Backup-…`, a file that does not exist)."""
    backup = backup_create(kind=Backup.Kind.MANUAL)

    response = admin_client.post(
        CHANGELIST,
        {"action": "verify_with_restore_test", "_selected_action": [backup.pk]},
        follow=True,
    )

    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith(f"Restore test of {backup.name}: ")
    assert f"B{backup.name[1:]}" not in response.content.decode()


def test_the_catalogue_is_titled_backups_not_select_backup_to_change(admin_client, signups):
    html = admin_client.get(CHANGELIST).content.decode()

    assert "<h1>Backups</h1>" in html
    assert "Select backup to change" not in html


def row_of(html: str, backup: Backup) -> str:
    """The changelist row of one backup."""
    rows = re.findall(r"<tr>.*?</tr>", html, re.S)
    [row] = [row for row in rows if f'title="{backup.name}"' in row]
    return row


def test_a_backup_is_listed_by_its_time_and_age_and_found_by_its_file_name(admin_client, signups):
    older = backup_create(kind=Backup.Kind.MANUAL)
    three_hours_ago = timezone.now() - datetime.timedelta(hours=3, minutes=5)
    Backup.objects.filter(pk=older.pk).update(started_at=three_hours_ago)
    newest = backup_create(kind=Backup.Kind.AUTO)

    html = admin_client.get(CHANGELIST).content.decode().replace("\xa0", " ")
    found = admin_client.get(CHANGELIST, {"q": older.name[7:30]}).content.decode()

    label = re.search(r'class="field-label">(.*?)</th>', row_of(html, newest)).group(1)
    assert f'<span class="visually-hidden"> {newest.name}</span>' in label
    assert f'<a href="{CHANGELIST}{newest.pk}/change/' in label  # the backup's own page
    assert '<span class="backup-age">just now</span>' in label
    assert '<span class="backup-age">3 hours ago</span>' in row_of(html, older)
    assert "0 minutes" not in html
    assert listed_names(found) == [older.name]


def test_a_normal_backup_shows_no_red_cross_and_a_problem_shows_one(admin_client, signups):
    normal = backup_create(kind=Backup.Kind.MANUAL)
    pinned = backup_create(kind=Backup.Kind.MANUAL, pin=True)
    shrunk = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=shrunk.pk).update(shrink_detected=True, shrink_detail="3 < 5")
    failed = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=failed.pk).update(verification_ok=False, verification_detail="bad")

    html = admin_client.get(CHANGELIST).content.decode()

    assert "icon-no" not in row_of(html, normal) and "icon-unknown" not in row_of(html, normal)
    assert "backup-flag-problem" not in row_of(html, pinned) + row_of(html, normal)
    assert re.search(r">pinned</span>", row_of(html, pinned))
    assert re.search(r'title="3 &lt; 5"><img src="[^"]*icon-alert[^"]*" alt="">shrank<', html)
    assert re.search(r'title="bad"><img src="[^"]*icon-no[^"]*" alt="">verification failed<', html)


def test_download_and_restore_share_one_column_shown_by_permission(
    client, admin_client, django_user_model, signups
):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    client.force_login(staff_with(django_user_model, "view_backup", "download_backup"))

    everything = row_of(admin_client.get(CHANGELIST).content.decode(), backup)
    download_only = row_of(client.get(CHANGELIST).content.decode(), backup)

    assert 'class="field-file_actions"' in everything
    assert f'href="{CHANGELIST}{backup.pk}/download/">Download</a>' in everything
    assert f'href="{CHANGELIST}{backup.pk}/restore/">Restore…</a>' in everything
    assert "Download</a>" in download_only and "Restore…" not in download_only


def test_the_admin_index_offers_to_view_backups_not_to_change_them(admin_client):
    html = admin_client.get("/admin/").content.decode()

    backups_row = re.search(r'<tr class="model-backup">.*?</tr>', html, re.S).group(0)
    assert ">View</a>" in backups_row
    assert "Change" not in backups_row


def test_a_backups_page_is_for_viewing_not_changing(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    html = admin_client.get(f"{CHANGELIST}{backup.pk}/change/").content.decode()

    assert "View backup" in html
    assert "Change backup" not in html
    assert 'name="_save"' not in html
    assert backup.name in html
    # Not pinned, no shrink, not verified yet: said in words, without admin's red cross.
    assert "icon-no" not in html and "icon-unknown" not in html
    assert re.search(r"<label>Pinned:</label>\s*<div class=\"readonly\">no</div>", html)
    assert re.search(r"<label>Verification:</label>\s*<div[^>]*>not verified yet</div>", html)


def test_a_backups_page_leads_with_what_staff_ask_and_folds_the_raw_record(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    html = admin_client.get(f"{CHANGELIST}{backup.pk}/change/").content.decode()

    # The first section: size and signups in words, before any raw field.
    first = html.split("<fieldset")[1]
    assert re.search(r"<label>Size:</label>\s*<div class=\"readonly\">[\d.]+ KB</div>", first)
    assert re.search(r"<label>Signups:</label>\s*<div class=\"readonly\">3</div>", first)
    assert "Sha256" not in first and "Manifest" not in first
    # The manifest and the per-table rows: folded (a collapsed fieldset), shown as a table and
    # as indented JSON rather than one long line.
    technical = html.split("Technical: the file and its manifest")[0].rsplit("<fieldset", 1)[1]
    assert "collapse" in technical
    folded = html.split("Technical: the file and its manifest")[1]
    assert "<td>waitlist_responses</td><td>3</td>" in folded
    assert '<pre class="backup-manifest">{\n  &quot;' in folded


def test_pin_needs_the_change_permission_though_backups_are_only_viewed(
    client, django_user_model, signups
):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    user = staff_with(django_user_model, "view_backup")
    client.force_login(user)
    refused = client.post(CHANGELIST, {"action": "pin", "_selected_action": [backup.pk]})
    backup.refresh_from_db()
    pinned_without_permission = backup.pinned

    user.user_permissions.add(Permission.objects.get(codename="change_backup"))
    client.post(CHANGELIST, {"action": "pin", "_selected_action": [backup.pk]})
    backup.refresh_from_db()

    assert refused.status_code == 200 and not pinned_without_permission
    assert backup.pinned


def test_verify_action_leaves_out_backups_that_did_not_succeed(admin_client, signups):
    good = backup_create(kind=Backup.Kind.MANUAL)
    failed = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=failed.pk).update(status=Backup.Status.FAILED)

    response = admin_client.post(
        CHANGELIST,
        {"action": "verify_with_restore_test", "_selected_action": [good.pk, failed.pk]},
        follow=True,
    )

    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith(f"Restore test of {good.name}: checksum and completeness verified")
    failed.refresh_from_db()
    assert failed.verified_at is None
    assert LogEntry.objects.filter(object_repr=good.name).count() == 1
    assert not LogEntry.objects.filter(object_repr=failed.name).exists()


def test_pin_action_reports_what_it_pinned_and_what_it_could_not(
    admin_client, admin_user, signups, backup_dir
):
    good = backup_create(kind=Backup.Kind.MANUAL)
    unpinnable = backup_create(kind=Backup.Kind.MANUAL)
    lose_manifest(backup_dir, unpinnable)

    response = admin_client.post(
        CHANGELIST, {"action": "pin", "_selected_action": [good.pk, unpinnable.pk]}, follow=True
    )

    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 2
    manifest = files.manifest_name_for(unpinnable.name)
    assert shown[0] == f"Not changed, {unpinnable.name}: The manifest {manifest} is missing."
    assert shown[1] == "Pinned 1 backup(s)."
    assert LogEntry.objects.get(object_repr=good.name).change_message == "Pinned"
    assert not LogEntry.objects.filter(object_repr=unpinnable.name).exists()


def test_download_of_an_unknown_or_unsucceeded_backup_is_not_found(admin_client, signups):
    failed = backup_create(kind=Backup.Kind.MANUAL)
    Backup.objects.filter(pk=failed.pk).update(status=Backup.Status.FAILED)

    assert admin_client.get(f"{CHANGELIST}{failed.pk}/download/").status_code == 404
    assert admin_client.get(f"{CHANGELIST}{failed.pk + 1000}/download/").status_code == 404


def test_download_of_a_backup_whose_dump_is_not_here_goes_back_to_the_list_saying_so(
    admin_client, signups, backup_dir
):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    (backup_dir / backup.name).unlink()  # as when only its off-site copy is left

    response = admin_client.get(f"{CHANGELIST}{backup.pk}/download/")

    assert response.status_code == 302 and response["Location"] == CHANGELIST
    [message] = [str(m) for m in admin_client.get(CHANGELIST).context["messages"]]
    assert message.startswith(f"No backup named '{backup.name}'")
    assert not LogEntry.objects.filter(change_message="Downloaded").exists()


def test_pin_action_leaves_a_backup_with_an_unsigned_manifest_unchanged_and_says_why(
    admin_client, signups, backup_dir
):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    path = backup_dir / files.manifest_name_for(backup.name)
    manifest = json.loads(path.read_text())
    del manifest["signature"]  # a manifest our keys do not vouch for
    path.write_text(json.dumps(manifest))

    response = admin_client.post(
        CHANGELIST, {"action": "pin", "_selected_action": [backup.pk]}, follow=True
    )

    shown = [str(m) for m in response.context["messages"]]
    assert shown[0].startswith(f"Not changed, {backup.name}: {backup.name} is not signed")
    assert shown[1] == "Pinned 0 backup(s)."
    backup.refresh_from_db()
    assert not backup.pinned and not json.loads(path.read_text()).get("pinned")
