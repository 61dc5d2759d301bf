"""`manage.py backup_worker`: turn signups into automatic backups (§4.6)."""

import signal
import time

from django.db import close_old_connections

from backups_app.alerts import logger
from backups_app.management.base import BackupCommand
from backups_app.services import backup_worker_pass


class Command(BackupCommand):
    help = (
        "Run automatic backups: one backup for each burst of signups (BACKUP_DEBOUNCE_SECONDS "
        "after the last, at most BACKUP_MAX_DELAY_SECONDS after the first), plus the schedule."
    )
    json_option = False

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then exit (for cron).")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between passes (default 1)."
        )

    def handle(self, *args, **options) -> None:
        if options["once"]:
            result = backup_worker_pass()
            line = f"{result.action}: {result.pending} pending"
            if result.backup is not None:
                line += f"; {result.backup.name}"
            if result.leftovers is not None and result.leftovers.found:
                line += f"; cleared up {_leftovers_text(result.leftovers)}"
            self.stdout.write(line + (f" ({result.detail})" if result.detail else ""))
            return
        stopping = []

        def stop(signum, frame) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        logger.info("backup worker started interval=%.1fs", options["interval"])
        while not stopping:
            close_old_connections()
            try:
                result = backup_worker_pass()
            except Exception:  # keep the worker alive; the error is logged with its traceback
                logger.exception("backup worker pass failed")
            else:
                if result.action.noteworthy:
                    logger.info(
                        "backup worker action=%s pending=%d backup=%s %s",
                        result.action,
                        result.pending,
                        result.backup.name if result.backup else "-",
                        result.detail,
                    )
            deadline = time.monotonic() + options["interval"]
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.1)
        logger.info("backup worker stopped")


def _leftovers_text(leftovers) -> str:
    parts = [
        f"{len(leftovers.interrupted)} interrupted backups",
        f"{len(leftovers.files)} files",
        f"{len(leftovers.scratch)} scratch databases or folders",
    ]
    return ", ".join(parts)
