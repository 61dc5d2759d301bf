"""Backup requests leave the signup's request path: buffered in memory, written in batches.

Recording a request with its own write transaction would make every signup pay a second commit
(on SQLite a second turn at the single write lock). Instead the on_commit hook only appends to
this buffer, and a background thread per process writes what gathered every
FLUSH_INTERVAL_SECONDS in one transaction. A request lost with its process (a crash before the
flush) loses nothing: the worker also backs up every signup newer than the newest backup.
"""

import atexit
import datetime
import logging
import os
import threading

from django.db import DatabaseError, close_old_connections, connections, transaction
from django.utils import timezone

logger = logging.getLogger("backups_app")

FLUSH_INTERVAL_SECONDS = 0.5
MAX_BUFFERED = 100_000


class RequestBuffer:
    def __init__(self) -> None:
        #: Write from a background thread; the test suite turns it off and flushes explicitly.
        self.background = True
        self._lock = threading.Lock()
        self._items: list[tuple[str, int | None, datetime.datetime]] = []
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def add(self, *, signup_id: int | None, using: str) -> None:
        """Queue a request stamped now (just after the signup committed). Microseconds."""
        with self._lock:
            if len(self._items) >= MAX_BUFFERED:
                self._items.pop(0)  # the worker's newest-signup check still covers it
            self._items.append((using, signup_id, timezone.now()))
        self._ensure_thread()

    def flush(self) -> int:
        """Write everything buffered now; return how many requests were written."""
        from backups_app.models import PendingBackupRequest

        with self._lock:
            items, self._items = self._items, []
        if not items:
            return 0
        by_database: dict[str, list] = {}
        for using, signup_id, requested_at in items:
            by_database.setdefault(using, []).append(
                PendingBackupRequest(signup_id=signup_id, requested_at=requested_at)
            )
        written = 0
        try:
            for using, requests in by_database.items():
                with transaction.atomic(using=using):
                    if connections[using].vendor == "postgresql":
                        # Don't make signups queue behind this commit's WAL flush: a lost batch
                        # is covered anyway (see the module docstring).
                        with connections[using].cursor() as cursor:
                            cursor.execute("SET LOCAL synchronous_commit TO off")
                    PendingBackupRequest.objects.using(using).bulk_create(requests)
                written += len(requests)
        except DatabaseError as err:
            logger.warning(
                "backup requests not written yet (%d kept for retry): %s", len(items), err
            )
            with self._lock:
                self._items[:0] = items[written:]
        return written

    def _ensure_thread(self) -> None:
        if not self.background:
            return
        # After a fork (gunicorn workers) the parent's thread does not exist in the child.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="backup-request-buffer", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Flush, end the background thread and close its database connection."""
        thread = self._thread
        self._stopping.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)
        self._thread = None
        self._stopping.clear()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._wake.wait(FLUSH_INTERVAL_SECONDS)
                self._wake.clear()
                try:
                    self.flush()
                except Exception:
                    logger.exception("backup request buffer flush failed")
                finally:
                    close_old_connections()
        finally:
            connections.close_all()


request_buffer = RequestBuffer()
atexit.register(request_buffer.flush)
