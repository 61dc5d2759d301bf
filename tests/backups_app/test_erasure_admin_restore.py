"""The restore page and the messages after a restore or merge say which signups of erased
fans (§12) the backup held and that they stayed erased."""

import pytest

from backups_app.models import Backup
from backups_app.services import backup_create
from tests.backups_app.conftest import restore_url
from tests.pages import by_id, messages_on, page_of, text
from waitlist.models import Signup
from waitlist.services import signup_erase

pytestmark = pytest.mark.django_db(transaction=True)

STAYED = "1 signup(s) of erased fans in the backup stayed erased"


@pytest.fixture
def erased_after_backup(signups, backup_dir):
    """A backup holding Ada, then Ada erased."""
    backup = backup_create(kind=Backup.Kind.MANUAL)
    signup_erase(email="ada@example.com", erased_by="test", reason="asked by mail")
    return backup


def emails() -> set[str]:
    return set(Signup.objects.values_list("email", flat=True))


def test_restore_page_says_erased_fans_will_not_come_back(admin_client, erased_after_backup):
    effects = by_id(page_of(admin_client.get(restore_url(erased_after_backup))), "restore-effects")

    assert "Signups of erased fans in this backup will not come back" in text(effects)
    assert "“Compare with live” counts them." in text(effects)


def test_compare_counts_the_backups_signups_of_erased_fans(admin_client, erased_after_backup):
    Signup.objects.filter(email="zoe@example.com").delete()

    page = page_of(admin_client.post(restore_url(erased_after_backup), {"operation": "compare"}))

    erased = text(by_id(page, "restore-erased"))
    comparison = text(by_id(page, "restore-comparison"))
    assert "1 signup in this backup belongs to erased fans and will not come back" in erased
    assert (
        "1 signup in this backup belongs to erased fans and will not come back, by a restore "
        "or a merge." in comparison
    )
    # The erased fan is counted, never shown.
    assert "ada@example.com" not in comparison
    assert "1 signup in this backup is missing" in comparison  # Zoë alone


def test_compare_without_erased_fans_says_so(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    page = page_of(admin_client.post(restore_url(backup), {"operation": "compare"}))

    assert "No signup in this backup belongs to an erased fan." in text(
        by_id(page, "restore-erased")
    )
    assert "erased fans" not in text(by_id(page, "restore-comparison"))


def test_restore_message_says_the_erased_fans_stayed_erased(admin_client, erased_after_backup):
    response = admin_client.post(
        restore_url(erased_after_backup),
        {"operation": "restore", "confirm_name": erased_after_backup.name},
        follow=True,
    )

    reported = messages_on(response)
    assert f"Restored {erased_after_backup.name} in " in reported
    assert f"{STAYED}." in reported
    assert emails() == {"zoe@example.com", "grace@example.com"}


def test_restore_message_is_silent_on_erasure_when_there_was_none(admin_client, signups):
    backup = backup_create(kind=Backup.Kind.MANUAL)

    response = admin_client.post(
        restore_url(backup), {"operation": "restore", "confirm_name": backup.name}, follow=True
    )

    assert f"Restored {backup.name} in " in messages_on(response)
    assert "erased" not in messages_on(response)


def test_merge_message_says_the_erased_fans_stayed_erased(admin_client, erased_after_backup):
    Signup.objects.filter(email="zoe@example.com").delete()

    response = admin_client.post(
        restore_url(erased_after_backup),
        {"operation": "merge", "confirm_name": erased_after_backup.name},
        follow=True,
    )

    safety = Backup.objects.get(kind=Backup.Kind.PRE_RESTORE, pinned=True)
    assert (
        f"Re-inserted 1 missing signup(s) from {erased_after_backup.name}; {STAYED}; "
        f"the data before it is in {safety.name} (pinned)."
    ) in messages_on(response)
    assert emails() == {"zoe@example.com", "grace@example.com"}
