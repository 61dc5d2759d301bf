"""The signup app's reads (waitlist/selectors.py), on the real database."""

import pytest

from tests.factories import SignupFactory
from waitlist.models import ErasureRequest, Signup
from waitlist.selectors import erasure_request_list, signups_of
from waitlist.services import erasure_request_create, erasure_request_decline

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada_twice():
    """Ada's signup, and a row of hers written behind the app's back, untrimmed and upper-case."""
    SignupFactory(email="ada@example.com")
    Signup.objects.bulk_create([Signup(full_name="Ada", email=" ADA@Example.com ", consent=True)])
    SignupFactory(email="grace@example.com")


def test_signups_of_finds_every_row_of_the_address_however_written(ada_twice):
    found = signups_of(email="  Ada@EXAMPLE.com")

    assert sorted(found.values_list("email", flat=True)) == [" ADA@Example.com ", "ada@example.com"]
    assert not signups_of(email="nobody@example.com").exists()


def test_erasure_request_list_counts_the_signups_of_each_pending_address(ada_twice):
    ada = erasure_request_create(email="Ada@Example.com")
    stranger = erasure_request_create(email="stranger@example.com")
    grace = erasure_request_create(email="grace@example.com")
    erasure_request_decline(erasure_request=grace, decided_by="admin:root")

    counts = dict(
        erasure_request_list(queryset=ErasureRequest.objects.all()).values_list(
            "pk", "signups_on_list"
        )
    )

    # What approving would erase; a decided request holds no address to count.
    assert counts == {
        ada.pk: signups_of(email="ada@example.com").count(),
        stranger.pk: 0,
        grace.pk: None,
    }
    assert counts[ada.pk] == 2


def test_erasure_request_list_keeps_the_queryset_it_is_given(ada_twice):
    ada = erasure_request_create(email="ada@example.com")
    erasure_request_create(email="grace@example.com")

    listed = erasure_request_list(queryset=ErasureRequest.objects.filter(pk=ada.pk))

    assert [(r.pk, r.signups_on_list) for r in listed] == [(ada.pk, 2)]


def test_erasure_request_list_reads_the_whole_list_in_one_query(
    ada_twice, django_assert_num_queries
):
    for n in range(5):
        erasure_request_create(email=f"fan{n}@example.com")

    with django_assert_num_queries(1):
        counts = [
            r.signups_on_list for r in erasure_request_list(queryset=ErasureRequest.objects.all())
        ]

    assert counts == [0] * 5
