"""Risk levels of a migration operation, ordered none < low < medium < high."""

import enum


class Level(enum.IntEnum):
    NONE = 0
    LOW = 1
    MEDIUM = 2  # a verified pre-migration backup is mandatory
    HIGH = 3  # refused without a review or --allow-dangerous --reason

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> "Level":
        return cls[label.upper()]
