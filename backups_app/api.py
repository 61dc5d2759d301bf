"""The backup API (§6.3): JSON over HTTP for scripts and for staff in the browser.

A caller is either a staff session (with its CSRF token, and the permission the call needs) or
presents `Authorization: Bearer $BACKUP_API_TOKEN`. Everyone else gets 401/403 and nothing runs.
"""

import functools
import json
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from backups_app.alerts import logger
from backups_app.auth import bearer_token_valid
from backups_app.exceptions import BackupBusy, BackupError
from backups_app.models import Backup
from backups_app.selectors import backup_list, backup_summary
from backups_app.services import backup_create, waitlist_export_csv


def api_view(*, method: str, permission: str) -> Callable:
    """Method check (405), authentication (401), CSRF for sessions and permission (403), and
    domain errors as JSON — around a view that returns (payload, status)."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt  # token callers send no cookie; session callers are checked just below
        @never_cache
        @functools.wraps(view)
        def wrapper(request: HttpRequest) -> JsonResponse:
            if request.method != method:
                response = error(f"Use {method}.", 405)
                response["Allow"] = method
                return response
            if bearer_token_valid(request):
                who = "api-token"
            elif request.headers.get("Authorization"):
                return error("The API token is not valid.", 401)
            elif not request.user.is_authenticated:
                return error("Log in as staff or send Authorization: Bearer <token>.", 401)
            else:
                if method != "GET":
                    refused = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
                    if refused is not None:
                        return error("CSRF check failed; send the X-CSRFToken header.", 403)
                if not (request.user.is_staff and request.user.has_perm(permission)):
                    return error("You do not have permission to do this.", 403)
                who = request.user.get_username()
            try:
                payload, status = view(request, who)
            except BackupBusy as err:
                return error(str(err), 409)
            except ValidationError as err:
                return error("; ".join(err.messages), 400)
            except BackupError as err:
                return error(str(err), 500)
            return JsonResponse(payload, status=status)

        return wrapper

    return decorate


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@api_view(method="GET", permission="backups_app.view_backup")
def backup_catalogue(request: HttpRequest, who: str) -> tuple[dict, int]:
    return {"backups": [backup_summary(b) for b in backup_list()]}, 200


@api_view(method="POST", permission="backups_app.create_backup")
def backup_create_view(request: HttpRequest, who: str) -> tuple[dict, int]:
    note = _body(request).get("note", "")
    backup = backup_create(kind=Backup.Kind.MANUAL, note=str(note)[:500], triggered_by=who)
    logger.info("api backup created name=%s by=%s", backup.name, who)
    return backup.manifest, 201


@api_view(method="POST", permission="backups_app.export_signups")
def export_csv_view(request: HttpRequest, who: str) -> tuple[dict, int]:
    export = waitlist_export_csv(triggered_by=who)
    return {"name": export.name, "row_count": export.row_count, "sha256": export.sha256}, 201


def _body(request: HttpRequest) -> dict:
    """The JSON object a caller sent (optional); form posts carry their fields in POST."""
    if request.content_type != "application/json":
        return request.POST.dict()
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError:
        raise ValidationError("The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    return body
