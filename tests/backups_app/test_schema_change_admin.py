"""The schema-change ledger in Django admin (§7): read-only, through admin_client."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backups_app.models import Backup, SchemaChange
from tests.backups_app.conftest import staff_with
from tests.factories import SchemaChangeFactory, quiet_operation, risky_plan

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/backups_app/schemachange/"
PAYLOAD = '<script>alert("ledger")</script>'


def catalogued(name: str) -> Backup:
    return Backup.objects.create(
        name=name, kind=Backup.Kind.PRE_MIGRATION, status=Backup.Status.SUCCEEDED, vendor="sqlite"
    )


def test_ledger_lists_runs_with_a_link_to_their_backup(admin_client):
    backup = catalogued("backup-20240101-000000-pre_migration.sql")
    applied = SchemaChangeFactory(reason="phone numbers are no longer collected " + "x" * 100)
    refused = SchemaChangeFactory(
        outcome=SchemaChange.Outcome.REFUSED,
        migrations=["waitlist.0008_a", "waitlist.0009_b", "shop.0001_c", "shop.0002_d"],
        backup_name="",
        triggered_by="someone@laptop",
    )

    html = admin_client.get(CHANGELIST).content.decode()

    assert f'href="{CHANGELIST}{applied.pk}/change/"' in html
    assert f'href="{CHANGELIST}{refused.pk}/change/"' in html
    assert f'<a href="/admin/backups_app/backup/{backup.pk}/change/">{backup.name}</a>' in html
    assert "waitlist.<wbr>0008_a<br>waitlist.<wbr>0009_b<br>shop.<wbr>0001_c (+1 more)" in html
    assert "someone<wbr>@laptop" in html
    assert "phone numbers are no longer collected" in html
    assert "x" * 100 not in html  # the reason is truncated in the list
    assert '<strong class="schema-change-failed">refused</strong>' in html
    assert f'<a href="{CHANGELIST}{applied.pk}/change/">#{applied.pk}<br>' in html


def test_backup_that_is_no_longer_catalogued_is_shown_by_name_without_a_link(admin_client):
    SchemaChangeFactory(backup_name="backup-rotated-away.sql")

    html = admin_client.get(CHANGELIST).content.decode()

    assert '<td class="field-backup">backup-rotated-away.sql</td>' in html


def test_list_looks_backups_up_in_one_query_not_one_per_row(admin_client):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(CHANGELIST)
        return len(queries)

    catalogued("backup-0.sql")
    SchemaChangeFactory(backup_name="backup-0.sql")
    one_row = queries_for_list()
    for number in range(1, 6):
        catalogued(f"backup-{number}.sql")
        SchemaChangeFactory(backup_name=f"backup-{number}.sql")

    assert queries_for_list() == one_row


def test_list_filters_by_outcome_and_searches_the_reason(admin_client):
    SchemaChangeFactory(reason="drop the phone column")
    SchemaChangeFactory(outcome=SchemaChange.Outcome.REFUSED, reason="rename city", backup_name="")

    refused = admin_client.get(CHANGELIST, {"outcome": "refused"}).content.decode()
    searched = admin_client.get(CHANGELIST, {"q": "phone"}).content.decode()

    assert "rename city" in refused and "drop the phone column" not in refused
    assert "drop the phone column" in searched and "rename city" not in searched


def detail_html(admin_client, change: SchemaChange) -> str:
    return admin_client.get(f"{CHANGELIST}{change.pk}/change/").content.decode()


def test_detail_page_shows_the_risky_operations_in_a_table(admin_client):
    html = detail_html(admin_client, SchemaChangeFactory())

    risky = html.split('<table class="plan-operations plan-risky">')[1].split("</table>")[0]
    assert '<th scope="col">rows affected</th>' in risky
    assert (
        '<tr><td class="plan-level">HIGH</td><td>Remove field phone from signup<br>'
        '<span class="quiet">waitlist.0007_drop_phone (apply), waitlist_signup.phone</span>'
        "</td><td>1234</td><td>drops a column that holds data<br><em>safer:</em> "
        "stop writing the column first, drop it a release later</td></tr>"
    ) in risky
    assert "Create index on email" not in risky
    assert "Risk <strong>high</strong>; backed up and verified first, then applied;" in html
    assert "backup_then_apply" not in html.split("plan-report")[1].split("</div>")[0]
    assert "phone numbers are no longer collected" in html
    assert "ops@deploy" in html


def test_detail_page_folds_the_operations_with_no_risk_after_the_risky_ones(admin_client):
    plan = risky_plan()
    plan["operations"] = [
        *(quiet_operation(n) for n in range(1, 15)),
        plan["operations"][0],  # the risky one, in the middle of the plan
        *(quiet_operation(n) for n in range(15, 29)),
        plan["operations"][1],
    ]

    html = detail_html(admin_client, SchemaChangeFactory(plan=plan))

    risky_at = html.index("Remove field phone from signup")
    folded_at = html.index('<details class="plan-quiet">')
    assert risky_at < folded_at
    assert "<summary>29 operations with no risk</summary>" in html
    folded = html[folded_at:].split("</details>")[0]
    assert folded.count("<tr><td") == 29
    assert "Create model Thing1<" in folded and "Create index on email" in folded
    assert '<td class="plan-level">NONE (reviewed)</td>' in folded


def test_uncounted_rows_and_missing_alternatives_are_said_plainly(admin_client):
    html = detail_html(admin_client, SchemaChangeFactory())

    assert "waitlist_signup</span></td><td>not counted</td><td>adds an index</td></tr>" in html
    assert "<td>?</td>" not in html
    assert "safer:</em> —" not in html


def test_a_plan_without_risky_operations_says_so(admin_client):
    plan = risky_plan()
    plan["operations"] = [quiet_operation(1)]

    html = detail_html(admin_client, SchemaChangeFactory(plan=plan, risk=SchemaChange.Risk.NONE))

    assert "No operation put data at risk." in html
    assert "<summary>1 operation with no risk</summary>" in html
    assert "plan-risky" not in html


def test_a_plan_without_operations_says_so(admin_client):
    plan = {**risky_plan(), "operations": [], "risk": "none"}

    html = detail_html(admin_client, SchemaChangeFactory(plan=plan, risk=SchemaChange.Risk.NONE))

    assert "No operations were planned." in html
    assert '<table class="plan-operations' not in html


def test_detail_page_shows_the_rollback_command_for_an_applied_change_with_a_backup(
    admin_client,
):
    change = SchemaChangeFactory()

    html = admin_client.get(f"{CHANGELIST}{change.pk}/change/").content.decode()

    assert f"<code>manage.py rollback_schema_change {change.pk}</code>" in html


@pytest.mark.parametrize(
    ("fields", "explanation"),
    [
        ({"outcome": SchemaChange.Outcome.REFUSED}, "there is nothing to roll back"),
        ({"outcome": SchemaChange.Outcome.ROLLED_BACK}, "was already rolled back"),
        ({"backup_name": ""}, "took no verified backup"),
        (
            {"outcome": SchemaChange.Outcome.FAILED, "applied_after": ["waitlist.0006_previous"]},
            "applied nothing",
        ),
    ],
)
def test_detail_page_offers_no_rollback_command_when_it_would_be_refused(
    admin_client, fields, explanation
):
    change = SchemaChangeFactory(**fields)

    html = admin_client.get(f"{CHANGELIST}{change.pk}/change/").content.decode()

    assert "rollback_schema_change" not in html
    assert explanation in html


def test_reasons_and_plan_from_migration_files_are_escaped(admin_client):
    change = SchemaChangeFactory(
        reason=PAYLOAD,
        triggered_by=PAYLOAD,
        migrations=[PAYLOAD],
        backup_name=PAYLOAD,
        plan=risky_plan(reason=PAYLOAD),
    )
    change.plan["operations"][0]["operation"] = PAYLOAD
    change.plan["operations"][0]["safe_alternative"] = PAYLOAD
    change.save()
    escaped = "&lt;script&gt;alert(&quot;ledger&quot;)&lt;/script&gt;"

    listing = admin_client.get(CHANGELIST).content.decode()
    detail = admin_client.get(f"{CHANGELIST}{change.pk}/change/").content.decode()

    assert PAYLOAD not in listing
    assert PAYLOAD not in detail
    assert escaped in listing
    assert f"<td>{escaped}<br><em>safer:</em> {escaped}</td></tr>" in detail
    assert f'<td>{escaped}<br><span class="quiet">' in detail


def test_ledger_cannot_be_added_to_changed_or_deleted_even_by_a_superuser(admin_client):
    change = SchemaChangeFactory()

    add = admin_client.get(CHANGELIST + "add/")
    delete = admin_client.post(f"{CHANGELIST}{change.pk}/delete/", {"post": "yes"})
    edit = admin_client.post(
        f"{CHANGELIST}{change.pk}/change/", {"outcome": "rolled_back", "reason": "tampered"}
    )
    bulk_delete = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [change.pk], "post": "yes"}
    )

    change.refresh_from_db()
    assert add.status_code == 403
    assert delete.status_code == 403
    assert edit.status_code == 403
    assert bulk_delete.status_code in (200, 302)  # admin answers "no such action"
    assert change.outcome == SchemaChange.Outcome.APPLIED
    assert change.reason == "phone numbers are no longer collected"
    assert SchemaChange.objects.filter(pk=change.pk).exists()


def test_detail_page_has_no_save_button(admin_client):
    change = SchemaChangeFactory()

    html = admin_client.get(f"{CHANGELIST}{change.pk}/change/").content.decode()

    assert 'name="_save"' not in html
    assert 'name="reason"' not in html  # shown, not an input


def test_staff_without_view_permission_cannot_see_the_ledger(client, django_user_model):
    change = SchemaChangeFactory()
    client.force_login(staff_with(django_user_model, "view_backup"))

    assert client.get(CHANGELIST).status_code == 403
    assert client.get(f"{CHANGELIST}{change.pk}/change/").status_code == 403


def test_staff_with_view_permission_sees_the_ledger_but_cannot_change_it(client, django_user_model):
    change = SchemaChangeFactory()
    client.force_login(staff_with(django_user_model, "view_schemachange"))

    listing = client.get(CHANGELIST)
    detail = client.get(f"{CHANGELIST}{change.pk}/change/")
    edit = client.post(f"{CHANGELIST}{change.pk}/change/", {"reason": "tampered"})

    change.refresh_from_db()
    assert listing.status_code == 200 and "0007_drop_phone" in listing.content.decode()
    assert detail.status_code == 200 and "rows affected</th>" in detail.content.decode()
    assert client.get(CHANGELIST + "add/").status_code == 403
    assert edit.status_code == 403
    assert change.reason == "phone numbers are no longer collected"


def test_detail_page_folds_a_long_list_of_migrations(admin_client):
    names = [f"waitlist.{n:04}_tidy" for n in range(1, 30)]

    long_plan = detail_html(admin_client, SchemaChangeFactory(migrations=names))
    short_plan = detail_html(admin_client, SchemaChangeFactory(migrations=names[:2]))

    assert (
        "<details><summary>29 migrations, waitlist.0001_tidy to waitlist.0029_tidy</summary>"
        + ", ".join(names)
        + "</details>"
    ) in long_plan
    assert '<div class="readonly">waitlist.0001_tidy, waitlist.0002_tidy</div>' in short_plan


def test_detail_page_leaves_out_the_rows_that_did_not_happen(admin_client):
    applied = detail_html(admin_client, SchemaChangeFactory())
    rolled_back = detail_html(
        admin_client,
        SchemaChangeFactory(
            outcome=SchemaChange.Outcome.ROLLED_BACK,
            error="lock timeout",
            rolled_back_at=timezone.now(),
            rolled_back_by="ops@laptop",
            rollback_detail="restored backup-20240101-000000-pre_migration.sql",
        ),
    )

    for label in ("Error:", "Rolled back at:", "Rolled back by:", "Rollback detail:"):
        assert label not in applied
        assert label in rolled_back
    assert "lock timeout" in rolled_back and "ops@laptop" in rolled_back


def test_an_operation_unsafe_to_deploy_is_shown_with_its_reason_and_recipe(admin_client):
    plan = risky_plan()
    index = {
        **quiet_operation(8),
        "operation": "Create index on email",
        "level": "low",
        "deploy": "unsafe",
        "deploy_reason": "builds an index without CONCURRENTLY: blocks writes, about 3 s",
        "deploy_recipe": "AddIndexConcurrently in a migration with atomic = False",
    }
    lock_only = {**quiet_operation(9), "deploy": "caution", "deploy_reason": "holds a lock"}
    plan["operations"] = [*plan["operations"], index, lock_only, quiet_operation(10)]

    html = detail_html(admin_client, SchemaChangeFactory(plan=plan))

    risky = html.split('<table class="plan-operations plan-risky">')[1].split("</table>")[0]
    assert "deploy unsafe:</strong> builds an index without CONCURRENTLY" in risky
    assert "<em>safer deploy:</em> AddIndexConcurrently" in risky
    # A risk to the site while it deploys is shown unfolded even when no data is at risk.
    assert "Create model Thing9" in risky
    assert "Create model Thing10" not in risky
