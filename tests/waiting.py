"""Bounded polls for a state: how the tests wait for another process, never a timing assertion."""

import time

import pytest

POLL_SECONDS = 0.05
WAIT_SECONDS = 60


def wait_until(condition, *, what: str, seconds: float = WAIT_SECONDS, poll: float = POLL_SECONDS):
    """Poll `condition` until it returns something true, and return that; fail the test (saying
    `what`) after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        if time.monotonic() >= deadline:
            pytest.fail(f"gave up after {seconds:g} s waiting for {what}")
        time.sleep(poll)
    return result
