"""The journal off-site with an untrusted BACKUP_DIR and an untrusted bucket, against the moto
S3 server: nothing planted on either side leaks a file, deletes a backup or replaces good data."""

import json

import pytest
from django.db import connection

from backups_app import journal
from backups_app.models import Backup
from backups_app.services import backup_create
from backups_app.services.journal import journal_close, journal_replay
from backups_app.services.journal_offsite import journal_offsite_fetch, journal_offsite_ship
from backups_app.services.offsite import backup_offsite_upload_pending
from tests.backups_app.offsite.conftest import PREFIX
from waitlist.models import Signup

pytestmark = pytest.mark.django_db(transaction=True)


def keys(s3_client, bucket_name: str) -> set[str]:
    listed = s3_client.list_objects_v2(Bucket=bucket_name).get("Contents", [])
    return {item["Key"] for item in listed}


def test_a_symlink_planted_as_a_segment_does_not_ship_its_target_off_site(
    offsite, backup_dir, s3_client, tmp_path
):
    """journal_offsite_ship() uploads whatever the path opens to: a symlink named like a segment
    pointing at a secret (.env, the signing key file, the SQLite database, /etc/shadow under
    root) sends that file to the bucket. Whoever can write BACKUP_DIR and read the bucket gets
    BACKUP_SIGNING_KEY, and with it can forge backups and journal lines."""
    secret = tmp_path / "dot-env"
    secret.write_text("BACKUP_SIGNING_KEY=the-real-signing-key-do-not-leak\n")
    planted = "segment-20000101T000000000000Z-evil-1-deadbeef.jsonl"
    (backup_dir / "journal" / planted).symlink_to(secret)

    [genuine] = journal.segment_names(backup_dir / "journal")[1:]  # the fixture's signups

    shipped = journal_offsite_ship()

    # The real segment goes off-site; the link is neither followed nor sent.
    assert shipped.shipped == [genuine]
    assert keys(s3_client, offsite) == {f"{PREFIX}journal/{genuine}"}


def test_fetching_does_not_replace_a_good_local_segment_with_a_longer_forged_one(
    offsite, backup_dir, s3_client
):
    """journal_offsite_fetch() replaces a local segment whenever the off-site object of that
    name is longer, without checking it: whoever can write the bucket wipes the good local
    journal (here: the three signups of the fixture) with garbage. Were the segment still
    open, the writer would go on appending to the unlinked inode, so every later signup would
    be lost too."""
    [name] = journal.segment_names(backup_dir / "journal")
    journal_close()
    local = backup_dir / "journal" / name
    good = local.read_bytes()
    s3_client.put_object(
        Bucket=offsite, Key=f"{PREFIX}journal/{name}", Body=b"x" * (len(good) + 100)
    )

    journal_offsite_fetch()

    assert local.read_bytes() == good
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM waitlist_responses")
    assert journal_replay().inserted == 3


def test_a_planted_shipped_state_cannot_delete_an_off_site_backup(offsite, backup_dir, s3_client):
    """_prune_offsite() takes names from BACKUP_DIR/journal/.shipped.json (untrusted) without
    checking them against SEGMENT_PATTERN and deletes `journal/<name>` off-site: a name with
    `..` reaches outside journal/ (clean_name normalises it), so writing one small file in the
    backup folder deletes the off-site copy of a backup."""
    backup = backup_create(kind=Backup.Kind.MANUAL)
    backup_offsite_upload_pending()
    assert Backup.objects.get(pk=backup.pk).offsite_at is not None
    dump_key = f"{PREFIX}{backup.name}"
    assert dump_key in keys(s3_client, offsite)

    state = backup_dir / "journal" / ".shipped.json"
    shipped = json.loads(state.read_text()) if state.exists() else {}
    shipped[f"../no-such-folder/../{backup.name}"] = [-1, 0]
    state.write_text(json.dumps(shipped))

    journal_offsite_ship()

    assert dump_key in keys(s3_client, offsite), "the off-site backup was deleted"
    assert Signup.objects.count() == 3


def test_a_malformed_shipped_state_does_not_stop_shipping(offsite, backup_dir, s3_client):
    """_read_state() turns each value with int()/float() outside its try: one planted entry
    such as ["x", 0] raises ValueError out of journal_offsite_ship() on every worker pass (the
    pass logs it and goes on), so no segment is shipped off-site again and
    backup_offsite_rotate(), called after it, never runs."""
    [name] = journal.segment_names(backup_dir / "journal")
    (backup_dir / "journal" / ".shipped.json").write_text(json.dumps({"junk": ["x", 0]}))

    result = journal_offsite_ship()

    assert result.shipped == [name]
