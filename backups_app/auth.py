"""Who may see backup internals: staff, or a caller with the BACKUP_API_TOKEN bearer token."""

import hmac

from django.http import HttpRequest

from backups_app import conf


def bearer_token_valid(request: HttpRequest) -> bool:
    """True when `Authorization: Bearer <token>` matches BACKUP_API_TOKEN (constant time)."""
    expected = conf.api_token()
    if not expected:
        return False
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def may_see_internals(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff) or bearer_token_valid(
        request
    )
