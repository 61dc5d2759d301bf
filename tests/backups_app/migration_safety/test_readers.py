"""Which reader answers for each migration operation, and the shape of a report line."""

from dataclasses import fields

import pytest
from django.db.migrations import operations

from backups_app.migration_safety import classify, deploy
from backups_app.migration_safety.classify import Finding
from backups_app.migration_safety.deploy import Deploy
from backups_app.migration_safety.levels import Level
from backups_app.migration_safety.readers import Readers
from backups_app.migration_safety.report import REPORT_KEYS, OperationRisk

# SeparateDatabaseAndState is opened by classify() itself; the concurrent index operations are
# postgres-only classes that Django's operations package does not list.
DJANGO_OPERATIONS = set(operations.__all__) - {"SeparateDatabaseAndState"}


@pytest.mark.parametrize("readers", [classify._READERS, deploy._READERS], ids=["data", "deploy"])
def test_every_django_operation_has_a_reader_on_both_axes(readers):
    # A reader that lost its decorator would quietly rate its operation as unknown.
    assert set(readers) >= DJANGO_OPERATIONS


def test_deploy_reads_no_operation_that_classify_does_not_rate():
    rated = set(classify._READERS) | {"AddIndexConcurrently", "RemoveIndexConcurrently"}
    assert set(deploy._READERS) <= rated


def test_an_operation_gets_one_reader_only():
    readers = Readers()

    @readers.of("AddField")
    def first(operation, ctx): ...

    with pytest.raises(ValueError, match="AddField is read by first already"):

        @readers.of("RenameField", "AddField")
        def second(operation, ctx): ...


def test_a_report_line_has_every_field_in_the_json_key_order():
    finding = Finding(kind="AddField", level=Level.LOW, reason="adds a column", deploy=Deploy.SAFE)

    line = OperationRisk.of(
        finding, migration="waitlist.0002_x", direction="apply", operation="Add field x"
    )

    # Every field of the line, in the order REPORT_KEYS writes out, none twice.
    assert list(line.as_dict()) == list(REPORT_KEYS)
    assert sorted(REPORT_KEYS) == sorted(field.name for field in fields(OperationRisk))
    assert line.as_dict()["level"] == "low"
