"""Test code run in several threads at once, as concurrent requests or workers would run it."""

import threading
from collections.abc import Callable

from django.db import connection


def run_together(*functions: Callable[[], object], timeout: float | None = None) -> None:
    """Call each of `functions` in a thread of its own, all started before any is waited for;
    return once every thread has ended (or waited `timeout` seconds for each). Each thread
    closes its database connection when done, as a request's thread does."""

    def run(function: Callable[[], object]) -> None:
        try:
            function()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(function,)) for function in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
