"""HTTP endpoints of the backup app."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from backups_app.auth import may_see_internals
from backups_app.health import health_report


@never_cache
@require_http_methods(["GET", "HEAD"])
def health(request: HttpRequest) -> JsonResponse:
    """200 when healthy, 503 when not. Figures and names only for staff or the API token."""
    report = health_report()
    healthy = all(check.ok for check in report)
    detailed = may_see_internals(request)
    checks = {}
    for check in report:
        checks[check.name] = {"ok": check.ok}
        if detailed:
            checks[check.name].update(detail=check.detail, **check.figures)
    return JsonResponse(
        {"status": "healthy" if healthy else "unhealthy", "checks": checks},
        status=200 if healthy else 503,
    )
