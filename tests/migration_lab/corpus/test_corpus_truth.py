"""Every corpus case, measured on the real database, has the truth its label records."""

import sys

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from .cases import CASES
from .truth import APP, drop_lab_tables, measure, new_package

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lab_root(tmp_path):
    """The lab app installed with an empty migrations package of its own under tmp_path."""
    package = new_package()
    sys.path.insert(0, str(tmp_path))
    try:
        with override_settings(
            INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.migration_lab.apps.LabConfig"],
            MIGRATION_MODULES={APP: package},
        ):
            yield tmp_path
    finally:
        drop_lab_tables()
        sys.path.remove(str(tmp_path))


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.name, marks=[pytest.mark.postgresql_only] if c.postgresql_only else [])
        for c in CASES
    ],
)
def test_case_has_its_measured_truth(case, lab_root):
    measured = measure(case, lab_root)

    assert measured.truth == case.truth_on(connection.vendor), (
        f"{case.name}: measured {tuple(int(v) for v in measured.truth)}, "
        f"migrate error {measured.migrate_error!r}, "
        f"old code error {measured.old_code_error!r}"
    )


def test_corpus_has_at_least_thirty_cases_with_unique_names():
    names = [case.name for case in CASES]

    assert len(names) >= 30
    assert len(set(names)) == len(names)
