"""The record of CSV exports in Django admin, and the export action on the signup list."""

import re

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_exports_are_a_read_only_list_with_view_links(admin_client):
    changelist = admin_client.get("/admin/backups_app/export/").content.decode()
    index = admin_client.get("/admin/").content.decode()

    assert "Select export to view" in changelist
    export_row = re.search(r'<tr class="model-export">.*?</tr>', index, re.DOTALL).group(0)
    assert "View" in export_row
    assert "Change" not in export_row
