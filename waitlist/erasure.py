"""The keyed hash that names an erased address, and the ledger read as "who is erased" (§12).

The key lives in settings (`WAITLIST_ERASURE_KEY`), never in the database, so the ledger that is
backed up and restored with everything else says nothing about who was erased to someone who
holds only the database or a backup. Without the setting the key is derived from
DJANGO_SECRET_KEY. Old keys (`WAITLIST_ERASURE_OLD_KEYS`, or the SECRET_KEY_FALLBACKS) still
match the erasures recorded under them, so keys rotate without losing one: lose every key an
erasure was recorded under and that erasure no longer matches anything.
"""

import datetime
import functools
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from waitlist.models import Erasure, normalize_email

MIN_KEY_LENGTH = 32
HMAC_BLOCK_SIZE = 64  # SHA-256's block size, for the pads PostgreSQL computes HMAC with


def erasure_keys() -> list[bytes]:
    """The key new erasures are recorded under, then the old ones that still match."""
    configured = getattr(settings, "WAITLIST_ERASURE_KEY", None)
    if configured:
        texts = [configured, *getattr(settings, "WAITLIST_ERASURE_OLD_KEYS", [])]
        for text in texts:
            if len(str(text).strip()) < MIN_KEY_LENGTH:
                raise ImproperlyConfigured(
                    f"WAITLIST_ERASURE_KEY and WAITLIST_ERASURE_OLD_KEYS need at least "
                    f"{MIN_KEY_LENGTH} characters each. Make one with: "
                    'python -c "import secrets; print(secrets.token_urlsafe(32))"'
                )
        return [str(text).strip().encode() for text in texts]
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [_derived_key(str(secret)) for secret in secrets if secret]


def key_is_derived() -> bool:
    """True while no WAITLIST_ERASURE_KEY is set and DJANGO_SECRET_KEY stands in."""
    return not getattr(settings, "WAITLIST_ERASURE_KEY", None)


def _derived_key(secret_key: str) -> bytes:
    # Never the secret key's own bytes: an HMAC of a fixed label under it.
    return hmac.new(secret_key.encode(), b"waitlist-site erasure key v1", hashlib.sha256).digest()


def email_hash(email: str, *, key: bytes | None = None) -> str:
    """The hex HMAC-SHA256 of the normalised address under `key` (the current one by default)."""
    key = erasure_keys()[0] if key is None else key
    return hmac.new(key, normalize_email(email).encode(), hashlib.sha256).hexdigest()


def email_hashes(email: str) -> list[str]:
    """The address's hash under every key, current first: any of them may be in the ledger."""
    return [email_hash(email, key=key) for key in erasure_keys()]


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys, so SQL with only sha256() computes the same hash:
    HMAC(k, m) = sha256(opad || sha256(ipad || m))."""
    if len(key) > HMAC_BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(HMAC_BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def pads_setting() -> str:
    """Every key's pads as one text ("ipad.opad,..." in hex) for a PostgreSQL session setting:
    the restore's SQL reads them from there, so no key is ever in a statement's text (which an
    error message or a server log could show)."""
    return ",".join(f"{ipad.hex()}.{opad.hex()}" for ipad, opad in map(hmac_pads, erasure_keys()))


@dataclass(frozen=True)
class ErasedAddresses:
    """The ledger as a lookup: each erased address's hash and its latest erasure.

    A signup is erased when its address was erased at or after the moment it signed up.
    """

    latest: dict[str, datetime.datetime]
    keys: tuple[bytes, ...]

    @classmethod
    def load(cls, *, using: str = "default") -> "ErasedAddresses":
        latest = dict(
            Erasure.objects.using(using)
            .values("email_hash")
            .annotate(latest=Max("erased_at"))
            .values_list("email_hash", "latest")
        )
        return cls(latest=latest, keys=tuple(erasure_keys()) if latest else ())

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, object]]) -> "ErasedAddresses":
        """From (hash, erased_at) pairs read outside the ORM (e.g. a database being restored)."""
        latest: dict[str, datetime.datetime] = {}
        for digest, erased_at in rows:
            moment = _aware(erased_at)
            if moment is not None and (digest not in latest or moment > latest[digest]):
                latest[digest] = moment
        return cls(latest=latest, keys=tuple(erasure_keys()) if latest else ())

    def __bool__(self) -> bool:
        return bool(self.latest)

    @functools.cached_property
    def _by_digest(self) -> dict[bytes, datetime.datetime]:
        return {bytes.fromhex(digest): at for digest, at in self.latest.items()}

    def covers(self, email: str, created_at: object) -> bool:
        """Whether a signup of `email` made at `created_at` belongs to an erased fan.

        Called once a row on the paths that read a whole table, so it stays cheap: one
        one-shot HMAC a key, and the time is only parsed for an address that matches."""
        if not self.latest or not email:
            return False
        normal = normalize_email(str(email)).encode()
        for key in self.keys:
            erased_at = self._by_digest.get(hmac.digest(key, normal, "sha256"))
            if erased_at is not None:
                signed_up = _aware(created_at)
                if signed_up is None or signed_up <= erased_at:
                    return True
        return False


def lock_ledger(*, using: str = "default", exclusive: bool = False) -> None:
    """Inside a transaction on PostgreSQL: hold the erasure ledger until it ends. Shared, no
    erasure can commit meanwhile (a path that puts signups back reads the ledger and inserts
    under it); exclusive, erasures also wait for each other. Taken first in both, so the two
    never deadlock on a signup's row. SQLite needs none: it has one writer at a time, and a
    transaction that read the ledger fails rather than write past a newer erasure."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    mode = "SHARE ROW EXCLUSIVE" if exclusive else "SHARE"
    with connection.cursor() as cursor:
        cursor.execute(
            f"LOCK TABLE {connection.ops.quote_name(Erasure._meta.db_table)} IN {mode} MODE"
        )


def _aware(value: object) -> datetime.datetime | None:
    """A datetime from the ORM, a driver or SQLite's text, made aware (UTC when naive)."""
    if isinstance(value, str):
        value = parse_datetime(value.strip())
    if not isinstance(value, datetime.datetime):
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    return value
