"""Reading RunPython code: adds, transforms, or cannot tell."""

from django.db import migrations

from backups_app.migration_safety.python_code import effect_of


def adds(apps, schema_editor):
    Entry = apps.get_model("lab", "Entry")
    Entry.objects.bulk_create([Entry(name="new")])


def deletes_through_a_helper(apps, schema_editor):
    _wipe(apps.get_model("lab", "Entry"))


def _wipe(model):
    model.objects.all().delete()


def recreates(apps, schema_editor):
    model = apps.get_model("waitlist", "Signup")
    schema_editor.delete_model(model)
    schema_editor.create_model(model)


def does_nothing_recognisable(apps, schema_editor):
    return apps


def test_only_adding_code_is_told_apart_from_transformations():
    assert effect_of(adds)[0] == "adds"
    assert effect_of(deletes_through_a_helper) == (
        "transforms",
        "deletes_through_a_helper calls delete",
    )
    assert effect_of(recreates)[0] == "transforms"


def test_code_that_cannot_be_read_counts_as_unknown():
    assert effect_of(does_nothing_recognisable)[0] == "unknown"
    assert effect_of(print)[0] == "unknown"  # a builtin has no Python source


def test_noop_and_missing_code_do_nothing():
    assert effect_of(migrations.RunPython.noop)[0] == "none"
    assert effect_of(None)[0] == "none"
