"""Request middleware of the backups app."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from backups_app.services.journal import journal_flush_at_exit


class JournalFlushMiddleware:
    """Hold the response until the signup journal's entries of this request are on disk,
    letting the flush overlap the rest of the request (§11, BACKUP_JOURNAL_FSYNC=wait, the
    default).

    A signup's journal entry is written when its transaction commits; its flush to disk then
    runs on a helper thread while the view and the middleware finish, and this middleware
    waits for it before the response is returned: a fan never sees the thanks page for a
    signup that is not yet durable in the journal. It comes first in MIDDLEWARE, so that the
    flush overlaps as much as it can. (With `background` nothing waits, and this middleware
    costs a thread-local assignment.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with journal_flush_at_exit():
            return self.get_response(request)
