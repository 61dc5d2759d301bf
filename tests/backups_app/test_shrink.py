"""The shrink guard (§4.3): a backup holding fewer signups than the one before it is flagged,
the one before is pinned, and staff are told."""

import pytest

from backups_app.models import Backup
from backups_app.services import backup_create
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_shrink_guard_flags_the_july_incident_and_pins_the_backup_before_it(
    signups, backup_dir, mailoutbox
):
    SignupFactory.create_batch(7)
    good = backup_create(kind=Backup.Kind.MANUAL)
    # The July incident: the table dropped and recreated, every earlier row gone.
    Signup.objects.all().delete()
    SignupFactory(email="after-the-fix@example.com")

    shrunk = backup_create(kind=Backup.Kind.AUTO)

    assert shrunk.shrink_detected
    assert "waitlist_responses: 10 -> 1 rows" in shrunk.shrink_detail
    assert shrunk.manifest["shrink"]["previous"] == good.name
    good.refresh_from_db()
    assert good.pinned
    assert "shrink" in good.pin_reason
    assert any("shrank" in m.subject for m in mailoutbox)


def test_losing_a_single_signup_is_a_shrink(signups, backup_dir, settings):
    # However high the threshold for other tables: no signup may be lost unnoticed.
    settings.BACKUP_SHRINK_THRESHOLD = 0.9
    backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="ada@example.com").delete()

    shrunk = backup_create(kind=Backup.Kind.MANUAL)

    assert shrunk.shrink_detected
    assert shrunk.manifest["shrink"]["tables"] == [
        {"table": "waitlist_responses", "before": 3, "after": 2}
    ]
    assert shrunk.shrink_detail.startswith("waitlist_responses: 3 -> 2 rows (against ")


def test_growth_and_equal_counts_are_not_a_shrink(signups, backup_dir, mailoutbox):
    backup_create(kind=Backup.Kind.MANUAL)
    same = backup_create(kind=Backup.Kind.MANUAL)
    SignupFactory()
    grown = backup_create(kind=Backup.Kind.MANUAL)

    assert not same.shrink_detected
    assert not grown.shrink_detected
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("removed", "ignored", "flagged"),
    [(3, (), True), (2, (), False), (3, ("auth_user",), False)],
    ids=["past the threshold", "within it", "table ignored"],
)
def test_other_tables_are_flagged_past_the_threshold_unless_ignored(
    signups, backup_dir, settings, django_user_model, removed, ignored, flagged
):
    settings.BACKUP_SHRINK_THRESHOLD = 0.2
    settings.BACKUP_SHRINK_IGNORE_TABLES = ignored
    # Ten accounts without hashing ten passwords (a quarter of a second each).
    django_user_model.objects.bulk_create(
        django_user_model(username=f"staff{n}", password="!") for n in range(10)
    )
    backup_create(kind=Backup.Kind.MANUAL)
    django_user_model.objects.filter(username__in=[f"staff{n}" for n in range(removed)]).delete()

    after = backup_create(kind=Backup.Kind.MANUAL)

    assert after.shrink_detected is flagged
    if flagged:
        assert "auth_user: 10 -> 7 rows" in after.shrink_detail
