"""factory_boy factories for test data, and the risk reports a schema change stores."""

import factory

from backups_app.models import SchemaChange
from waitlist.models import Signup


class SignupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signup

    full_name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"fan{n}@example.com")
    city = factory.Faker("city")
    country = factory.Faker("country")
    consent = True


def risky_plan(*, reason: str = "drops a column that holds data") -> dict:
    """A risk report as RiskReport.as_dict stores it: one high-risk and one harmless operation."""
    return {
        "database": "default",
        "vendor": "sqlite",
        "has_data": True,
        "risk": "high",
        "backup_required": True,
        "unreviewed_high": 1,
        "action": "backup_then_apply",
        "migrations": [
            {
                "migration": "waitlist.0007_drop_phone",
                "direction": "apply",
                "review": "none",
                "review_reason": "",
            }
        ],
        "operations": [
            {
                "migration": "waitlist.0007_drop_phone",
                "direction": "apply",
                "operation": "Remove field phone from signup",
                "kind": "remove_field",
                "level": "high",
                "reason": reason,
                "table": "waitlist_signup",
                "column": "phone",
                "rows": 1234,
                "safe_alternative": "stop writing the column first, drop it a release later",
                "reviewed": False,
            },
            {
                "migration": "waitlist.0007_drop_phone",
                "direction": "apply",
                "operation": "Create index on email",
                "kind": "add_index",
                "level": "none",
                "reason": "adds an index",
                "table": "waitlist_signup",
                "column": "",
                "rows": None,
                "safe_alternative": "",
                "reviewed": False,
            },
        ],
    }


def quiet_operation(number: int) -> dict:
    return {
        "migration": f"waitlist.{number:04}_tidy",
        "direction": "apply",
        "operation": f"Create model Thing{number}",
        "kind": "create_model",
        "level": "none",
        "reason": "a new, empty table",
        "table": f"waitlist_thing{number}",
        "column": "",
        "rows": None,
        "safe_alternative": "",
        "reviewed": number % 2 == 0,
    }


class SchemaChangeFactory(factory.django.DjangoModelFactory):
    """An applied, allowed high-risk migration in the ledger, with the backup taken before it."""

    class Meta:
        model = SchemaChange

    outcome = SchemaChange.Outcome.APPLIED
    risk = SchemaChange.Risk.HIGH
    migrations = factory.LazyFunction(lambda: ["waitlist.0007_drop_phone"])
    plan = factory.LazyFunction(risky_plan)
    backup_name = "backup-20240101-000000-pre_migration.sql"
    reason = "phone numbers are no longer collected"
    allowed_dangerous = True
    triggered_by = "ops@deploy"
    applied_before = factory.LazyFunction(lambda: ["waitlist.0006_previous"])
    applied_after = factory.LazyFunction(
        lambda: ["waitlist.0006_previous", "waitlist.0007_drop_phone"]
    )
