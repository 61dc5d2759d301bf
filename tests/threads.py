"""Test code run in several threads at once, as concurrent requests or workers would run it."""

import threading
import time
from collections.abc import Callable

from django.db import connection


def run_together(*functions: Callable[[], object], timeout: float | None = None) -> None:
    """Call each of `functions` in a thread of its own, all started before any is waited for;
    return once every thread has ended. Each thread closes its database connection when done,
    as a request's thread does. A thread still running `timeout` seconds after the start fails
    the test, and so does an exception in any thread (the first is raised here): a thread's
    error would otherwise only be printed."""
    errors: list[BaseException] = []

    def run(function: Callable[[], object]) -> None:
        try:
            function()
        except BaseException as err:
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(function,)) for function in functions]
    for thread in threads:
        thread.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), f"still running after {timeout} s"
    if errors:
        raise errors[0]
