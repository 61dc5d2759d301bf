"""Reading RunPython code: adds, transforms, or cannot tell."""

import functools
import textwrap

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


def only_reads(apps, schema_editor):
    Entry = apps.get_model("lab", "Entry")
    return [entry.name.upper() for entry in Entry.objects.filter(name__startswith="A")]


def deletes_through_getattr(apps, schema_editor):
    queryset = apps.get_model("lab", "Entry").objects.all()
    getattr(queryset, "del" + "ete")()


def deletes_through_a_variable(apps, schema_editor):
    remove = apps.get_model("lab", "Entry").objects.all().delete
    remove()


def adds_then_calls_elsewhere(apps, schema_editor):
    Entry = apps.get_model("lab", "Entry")
    Entry.objects.create(name="new")
    textwrap.dedent(Entry)  # stands for any helper of another module


def test_only_adding_code_is_told_apart_from_transformations():
    assert effect_of(adds)[0] == "adds"
    assert effect_of(deletes_through_a_helper) == (
        "transforms",
        "deletes_through_a_helper uses delete",
    )
    assert effect_of(recreates)[0] == "transforms"
    assert effect_of(deletes_through_a_variable)[0] == "transforms"
    assert effect_of(only_reads)[0] == "reads"


def _wipe_one(entry):
    entry.delete()


def wipes_through_map(apps, schema_editor):
    list(map(_wipe_one, apps.get_model("lab", "Entry").objects.all()))


def upserts(apps, schema_editor):
    Entry = apps.get_model("lab", "Entry")
    Entry.objects.bulk_create([Entry(id=1)], update_conflicts=True, unique_fields=["id"])


def _logged(function):
    @functools.wraps(function)
    def wrapper(apps, schema_editor):
        return function(apps, schema_editor)

    return wrapper


@_logged
def decorated(apps, schema_editor):
    apps.get_model("lab", "Entry").objects.create(name="x")


def test_helpers_passed_as_values_and_upserts_are_read():
    assert effect_of(wipes_through_map)[0] == "transforms"
    assert effect_of(upserts)[0] == "transforms"
    assert effect_of(decorated)[0] == "unknown"


def test_code_the_guard_cannot_vouch_for_counts_as_unknown():
    assert effect_of(deletes_through_getattr)[0] == "unknown"
    assert effect_of(adds_then_calls_elsewhere)[0] == "unknown"
    assert effect_of(print)[0] == "unknown"  # a builtin has no Python source


def test_noop_and_missing_code_do_nothing():
    assert effect_of(migrations.RunPython.noop)[0] == "none"
    assert effect_of(None)[0] == "none"
