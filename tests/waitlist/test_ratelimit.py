"""Parsing the rate setting and finding the client's address."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from waitlist.ratelimit import Rate, client_address, parse_rate


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("100/m", Rate(limit=100, period_seconds=60)),
        ("5/s", Rate(limit=5, period_seconds=1)),
        (" 2000 / h ", Rate(limit=2000, period_seconds=3600)),
        ("0", None),
        ("0/m", None),
    ],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "100", "100/d", "-1/m", "many/m", "1.5/s"])
def test_parse_rate_refuses_nonsense_with_a_clear_message(text):
    with pytest.raises(ImproperlyConfigured, match="use N/s, N/m or N/h"):
        parse_rate(text)


def test_client_address_without_proxies_ignores_forwarded_header():
    request = RequestFactory().get(
        "/", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.1"
    )

    assert client_address(request, trusted_proxies=0) == "203.0.113.7"


def test_client_address_takes_the_entry_written_by_our_last_proxy():
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7, 10.0.0.2"
    )

    assert client_address(request, trusted_proxies=2) == "203.0.113.7"


def test_client_address_falls_back_when_the_header_is_short():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.3")

    assert client_address(request, trusted_proxies=1) == "10.0.0.3"
