"""Sizes and ages as staff read them, in every command and admin page."""

import datetime

from backups_app.humanize import human_age, human_size

NOW = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.UTC)


def test_ages_under_a_minute_read_just_now_not_zero_minutes():
    assert human_age(NOW, NOW) == "just now"
    assert human_age(NOW - datetime.timedelta(seconds=59), NOW) == "just now"


def test_older_ages_name_their_largest_unit_only():
    assert human_age(NOW - datetime.timedelta(minutes=1), NOW) == "1 minute ago"
    assert human_age(NOW - datetime.timedelta(hours=3, minutes=20), NOW) == "3 hours ago"
    assert human_age(NOW - datetime.timedelta(days=2, hours=5), NOW) == "2 days ago"


def test_sizes_use_the_largest_unit_below_1024():
    assert human_size(None) == "-"
    assert human_size(512) == "512 B"
    assert human_size(36_843) == "36.0 KB"
    assert human_size(5 * 1024**3) == "5.0 GB"
