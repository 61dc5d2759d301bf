"""The corpus: one change migration per case, applied to the seeded base, with its measured truth.

The cases are a table in cases.toml next to this module, which says what each entry holds.
`expect` is what truth.py measured on PostgreSQL and `expect_sqlite` where SQLite differs; the test
module re-measures every case on every run, so a label here is a measurement, not an opinion.
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class Truth(NamedTuple):
    #: A row or a non-NULL value of the snapshot is gone or changed, or migrate failed.
    data_lost: bool
    #: The table's storage was replaced: relfilenode on PostgreSQL, rootpage on SQLite.
    rewritten: bool
    #: The previous model's read or insert fails after the migration.
    old_code_breaks: bool
    #: Rewritten with rows, old code breaks, a blocking index or constraint, or migrate failed.
    unsafe_for_deploy: bool


@dataclass(frozen=True)
class Case:
    name: str
    operations: str
    expect: Truth
    expect_sqlite: Truth | None = None  # None: the same as on PostgreSQL
    functions: str = ""
    atomic: bool = True
    postgresql_only: bool = False
    model: str = "Entry"  # the model whose previous release is run after the migration
    renamed_tables: dict = field(default_factory=dict)  # old db_table -> new
    renamed_columns: dict = field(default_factory=dict)  # "table.old" -> "new"

    def truth_on(self, vendor: str) -> Truth:
        if vendor == "sqlite" and self.expect_sqlite is not None:
            return self.expect_sqlite
        return self.expect


def load_cases(path: Path) -> list[Case]:
    """The cases of a TOML table such as cases.toml, each truth read from its 0/1 list."""
    with path.open("rb") as file:
        entries = tomllib.load(file)["case"]
    for entry in entries:
        for key in ("expect", "expect_sqlite"):
            if key in entry:
                entry[key] = Truth(*map(bool, entry[key]))
    return [Case(**entry) for entry in entries]


CASES = load_cases(Path(__file__).with_name("cases.toml"))
