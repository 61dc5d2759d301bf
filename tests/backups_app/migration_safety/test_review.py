"""The reviewed marker's hash: it ignores the marker itself and nothing else."""

from backups_app.migration_safety.review import content_hash

SOURCE = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = []
{marker}
    operations = [migrations.RunSQL("DELETE FROM t")]  # \f a form feed in a comment
"""
MARKER = """    reviewed = {
        "sha256": "whatever",
        "reason": "say \\"why\\" \\u2028 here",
    }
"""


def test_the_marker_does_not_change_the_hash():
    assert content_hash(SOURCE.format(marker=MARKER)) == content_hash(SOURCE.format(marker=""))


def test_any_other_edit_changes_the_hash():
    edited = SOURCE.replace("DELETE FROM t", "DELETE FROM t WHERE id = 1")
    assert content_hash(edited.format(marker=MARKER)) != content_hash(SOURCE.format(marker=MARKER))
    comment = SOURCE.replace("a form feed", "another comment")
    assert content_hash(comment.format(marker="")) != content_hash(SOURCE.format(marker=""))
