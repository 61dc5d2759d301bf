"""The reviewed marker's hash: it ignores the marker itself and nothing else."""

import importlib.util
import sys

import pytest
from django.core.exceptions import ValidationError

from backups_app.migration_safety.review import Review, content_hash, review_of, write_review

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


def load_migration(path, name="0002_change"):
    """Import a migration file written by a test, as Django's loader would."""
    module_name = f"reviewtest_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module.Migration(name, "lab")


MIGRATION = (
    "from django.db import migrations\n\n\n"
    "class Migration(migrations.Migration):\n"
    '    """Drops the table."""\n\n'
    "    dependencies = []\n"
    '    operations = [migrations.RunSQL("DELETE FROM t")]\n'
)


def test_a_review_is_written_once_replaced_not_repeated_and_keeps_line_endings(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(MIGRATION.replace("\n", "\r\n").encode())

    write_review(load_migration(path), reason='the "old" rows are archived ✓')
    write_review(load_migration(path), reason="second thoughts\nwritten again")

    raw = path.read_bytes().decode()
    assert raw.count("reviewed = {") == 1
    assert "\n" not in raw.replace("\r\n", "")  # every line still ends in CRLF
    review = review_of(load_migration(path))
    assert review == Review("reviewed", "second thoughts written again")


def test_an_annotated_marker_is_found_and_replaced(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        MIGRATION.replace(
            "    dependencies", '    reviewed: dict = {"sha256": "x"}\n    dependencies'
        )
    )
    write_review(load_migration(path), reason="fine")
    assert path.read_text().count("reviewed") == 1
    assert review_of(load_migration(path)).valid


def test_odd_markers_read_as_void_and_one_line_classes_are_refused(tmp_path):
    path = tmp_path / "m.py"
    for marker in ('"yes"', '{"sha256": 1}', "[1, 2]", "True"):
        path.write_text(
            MIGRATION.replace("    dependencies", f"    reviewed = {marker}\n    dependencies")
        )
        assert review_of(load_migration(path)).status == "void"
    path.write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration): operations = []\n"
    )
    with pytest.raises(ValidationError, match="one line"):
        write_review(load_migration(path), reason="fine")
