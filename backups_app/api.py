"""The backup API (§6.3): JSON over HTTP for scripts and for staff in the browser.

A caller is either a staff session (with its CSRF token, and the permission the call needs) or
presents `Authorization: Bearer $BACKUP_API_TOKEN`. Everyone else gets 401/403 and nothing runs.
"""

import functools
import json
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from backups_app.alerts import logger
from backups_app.auth import bearer_token_valid
from backups_app.exceptions import BackupBusy, BackupError, error_text
from backups_app.models import Backup
from backups_app.selectors import backup_list, backup_summary
from backups_app.services import backup_create, waitlist_export_csv

FORM_CONTENT_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def api_view(*, method: str, permission: str) -> Callable:
    """Method check (405), authentication (401), CSRF for sessions and permission (403), the
    body (400 unreadable, 413 too large) and domain errors as JSON — around a view that takes
    the caller and the body it sent and returns (payload, status)."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt  # token callers send no cookie; session callers are checked just below
        @never_cache
        @functools.wraps(view)
        def wrapper(request: HttpRequest) -> JsonResponse:
            if request.method != method:
                response = error(f"Use {method}.", 405)
                response["Allow"] = method
                return response
            # Django refuses some bodies as they are read (for the CSRF check or the view),
            # always before anything has been done; the caller gets JSON like every refusal.
            try:
                return _answer(request, view, method=method, permission=permission)
            except RequestDataTooBig:
                limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                logger.warning("api request refused, body too large path=%s", request.path)
                return error(f"The request body is too large (over {limit} bytes).", 413)
            except (MultiPartParserError, TooManyFieldsSent, TooManyFilesSent) as err:
                logger.warning("api request refused, body unreadable path=%s", request.path)
                return error(f"The request body could not be read: {err}", 400)

        return wrapper

    return decorate


def _answer(request: HttpRequest, view: Callable, *, method: str, permission: str) -> JsonResponse:
    """Who is calling and may they, then the view's answer; every refusal as JSON."""
    if bearer_token_valid(request):
        who = "api-token"
    elif request.headers.get("Authorization"):
        return error("The API token is not valid.", 401)
    elif not request.user.is_authenticated:
        return error("Log in as staff or send Authorization: Bearer <token>.", 401)
    else:
        if method != "GET":
            # Read the whole body (bounded) now: the CSRF check parses a form from the stream,
            # after which the body could no longer be read.
            request.body  # noqa: B018
            refused = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
            if refused is not None:
                return error("CSRF check failed; send the X-CSRFToken header.", 403)
        if not (request.user.is_staff and request.user.has_perm(permission)):
            return error("You do not have permission to do this.", 403)
        who = request.user.get_username()
    try:
        body = _request_body(request) if method == "POST" else {}
        payload, status = view(request, who, body)
    except BackupBusy as err:
        return error(str(err), 409)
    except ValidationError as err:
        return error(error_text(err), 400)
    except BackupError as err:
        return error(str(err), 500)
    return JsonResponse(payload, status=status)


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@api_view(method="GET", permission="backups_app.view_backup")
def backup_catalogue(request: HttpRequest, who: str, body: dict) -> tuple[dict, int]:
    return {"backups": [backup_summary(backup=b) for b in backup_list()]}, 200


@api_view(method="POST", permission="backups_app.create_backup")
def backup_create_view(request: HttpRequest, who: str, body: dict) -> tuple[dict, int]:
    note = body.get("note", "")
    backup = backup_create(kind=Backup.Kind.MANUAL, note=str(note), triggered_by=who)
    logger.info("api backup created name=%s by=%s", backup.name, who)
    return backup.manifest, 201


@api_view(method="POST", permission="backups_app.export_signups")
def export_csv_view(request: HttpRequest, who: str, body: dict) -> tuple[dict, int]:
    export = waitlist_export_csv(triggered_by=who)
    return {"name": export.name, "row_count": export.row_count, "sha256": export.sha256}, 201


def _request_body(request: HttpRequest) -> dict:
    """The fields a caller sent: a form's, or else a JSON object (optional, whatever the
    Content-Type says, since scripts often send none). Anything else is a ValidationError.

    The whole body is read first, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE bounds every
    request, files in a multipart body included (RequestDataTooBig).
    """
    raw = request.body
    if request.content_type in FORM_CONTENT_TYPES:
        return request.POST.dict()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValidationError(
            "The request body is not JSON; send a JSON object or a form."
        ) from None
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    return body
