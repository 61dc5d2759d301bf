"""Assertions the test modules share, each saying exactly what it did not find."""

from collections.abc import Iterable


def assert_contains_all(text: str, expected: Iterable[str]) -> None:
    """Each of `expected` is in `text`; otherwise fail, naming every one that is not (a run of
    `assert part in text` stops at the first)."""
    missing = [part for part in expected if part not in text]
    assert not missing, f"not found: {missing!r}\nin:\n{text}"
