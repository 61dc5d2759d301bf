"""The corpus's starting point: the base migration and the seed rows every case begins from."""

import random

from tests.migration_lab.lab import INITIAL_HEAD

#: 0001_initial of every case: a table full of rows, a small table it may point to, an empty one.
BASE = (
    INITIAL_HEAD
    + """\
        migrations.CreateModel(
            name="Team",
            fields=[
                ("id", models.AutoField(primary_key=True)),
                ("label", models.CharField(max_length=50)),
            ],
            options={"db_table": "lab_team"},
        ),
        migrations.CreateModel(
            name="Archive",
            fields=[
                ("id", models.AutoField(primary_key=True)),
                ("note", models.TextField()),
            ],
            options={"db_table": "lab_archive"},
        ),
        migrations.CreateModel(
            name="Entry",
            fields=[
                ("id", models.AutoField(primary_key=True)),
                ("name", models.CharField(max_length=100)),
                ("nickname", models.CharField(max_length=100, null=True)),
                ("title", models.CharField(max_length=100, null=True)),
                ("code", models.CharField(max_length=20, null=True)),
                ("digits", models.CharField(max_length=20, null=True)),
                ("score", models.IntegerField(null=True)),
                ("email", models.CharField(max_length=254)),
                ("ref", models.CharField(max_length=20)),
                ("bio", models.TextField(null=True)),
                ("legacy", models.CharField(max_length=20, null=True)),
            ],
            options={"db_table": "lab_entry"},
        ),
    ]
"""
)

ENTRY_ROWS = 1000
TEAM_ROWS = 10

FIRST_NAMES = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus",
    "Radia", "Tim", "Sophie", "John", "Katherine", "Dennis", "Hedy", "Linus", "Guido", "Yukihiro",
]  # fmt: skip


def entry_rows() -> list[dict]:
    """1,000 rows as production has them: repeated names, a third of nicknames NULL, long names
    and biographies, codes that are mostly numbers but sometimes "N/A", repeated e-mails."""
    rng = random.Random(8)
    rows = []
    for i in range(ENTRY_ROWS):
        first = rng.choice(FIRST_NAMES)
        name = f"{first} {rng.choice(FIRST_NAMES)}son"
        if i % 50 == 7:
            name = (first + " ") * 20  # long: 60 to 100 characters
            name = name[:100]
        rows.append(
            {
                "name": name,
                "nickname": None if i % 3 == 0 else first[:3] + str(i % 7),
                "title": f"Title {i % 40}",
                "code": None if i % 10 == 0 else ("N/A" if i % 20 == 5 else str(1000 + i)),
                "digits": str(i * 7),
                "score": None if i % 10 == 3 else rng.randint(0, 1000),
                "email": f"user{i % 950}@example.com",
                "ref": f"REF-{i:05d}",
                "bio": None if i % 4 == 0 else "Lorem ipsum dolor sit amet. " * rng.randint(1, 80),
                "legacy": None,
            }
        )
    return rows


def team_rows() -> list[dict]:
    return [{"label": f"Team {i}"} for i in range(1, TEAM_ROWS + 1)]


#: What the previous release writes for a new row of each model: NULL where the model allows it,
#: an ordinary value elsewhere.
OLD_INSERTS = {
    "Entry": {"name": "Written by the old code", "email": "old@example.com", "ref": "REF-OLD"},
    "Team": {"label": "Old team"},
    "Archive": {"note": "Old note"},
}
