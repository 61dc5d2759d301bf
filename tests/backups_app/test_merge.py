"""Merge restore and its preview: lost signups come back, newer ones stay (§4.5)."""

import pytest

from backups_app.models import Backup
from backups_app.services import backup_create, backup_diff, backup_merge
from tests.factories import SignupFactory
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def test_merge_brings_back_deleted_signups_and_keeps_newer_ones(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    ada = Signup.objects.get(email="ada@example.com")
    original = (ada.pk, ada.full_name, ada.message, ada.created_at)
    Signup.objects.filter(email__in=["ada@example.com", "zoe@example.com"]).delete()
    newer = SignupFactory(email="tonight@example.com")

    result = backup_merge(name=backup.name, triggered_by="test")

    assert result.inserted == 2
    assert set(Signup.objects.values_list("email", flat=True)) == {
        "ada@example.com",
        "zoe@example.com",
        "grace@example.com",
        "tonight@example.com",
    }
    back = Signup.objects.get(email="ada@example.com")
    assert (back.pk, back.full_name, back.message, back.created_at) == original
    assert Signup.objects.get(pk=newer.pk).email == "tonight@example.com"
    assert Backup.objects.get(name=result.safety_backup).kind == Backup.Kind.PRE_RESTORE


def test_merge_gives_a_new_id_when_the_old_one_was_reused(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    grace = Signup.objects.get(email="grace@example.com")
    grace_id = grace.pk
    grace.delete()
    Signup.objects.create(
        id=grace_id, full_name="Someone New", email="new@example.com", consent=True
    )

    result = backup_merge(name=backup.name)

    assert result.inserted == 1
    assert Signup.objects.get(pk=grace_id).email == "new@example.com"
    assert Signup.objects.get(email="grace@example.com").pk != grace_id


def test_merge_twice_adds_nothing_the_second_time(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    backup_merge(name=backup.name)

    again = backup_merge(name=backup.name)

    assert again.inserted == 0
    assert Signup.objects.count() == 3


def test_new_signups_after_a_merge_do_not_collide(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.all().delete()
    backup_merge(name=backup.name)

    fresh = SignupFactory(email="fresh@example.com")

    assert fresh.pk not in {s.pk for s in signups}


def test_diff_shows_what_a_merge_would_add_and_changes_nothing(signups, backup_dir):
    backup = backup_create(kind=Backup.Kind.MANUAL)
    Signup.objects.filter(email="zoe@example.com").delete()
    before_files = {p.name for p in backup_dir.iterdir()}

    diff = backup_diff(name=backup.name)

    assert diff.missing == 1
    assert diff.inserted == 0
    assert diff.sample[0]["email"] == "zoe@example.com"
    assert Signup.objects.count() == 2
    assert {p.name for p in backup_dir.iterdir()} == before_files
