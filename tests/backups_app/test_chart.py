"""The chart of backup size and duration on the backups page: readable scales, a time axis,
a legend and a description, in one well-formed SVG."""

import datetime
import xml.etree.ElementTree as ET

import pytest

from backups_app.chart import backup_chart_svg, chart_scales, duration_scale, size_scale
from backups_app.models import Backup

SVG = "{http://www.w3.org/2000/svg}"
START = datetime.datetime(2026, 11, 30, 14, 2, tzinfo=datetime.UTC)


def backups(sizes_kb: list[float], durations: list[float], *, apart: datetime.timedelta):
    """Catalogue entries as the changelist passes them, newest first (never saved)."""
    return [
        Backup(
            name=f"backup-{i}.sql",
            started_at=START + i * apart,
            size_bytes=round(kb * 1024),
            duration_seconds=seconds,
        )
        for i, (kb, seconds) in reversed(list(enumerate(zip(sizes_kb, durations, strict=True))))
    ]


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (the app's own output)


def texts(svg: ET.Element) -> list[str]:
    return [t.text for t in svg.iter(f"{SVG}text")]


@pytest.fixture
def small_backups() -> ET.Element:
    """Six 30-55 KB backups taking 20-80 ms, ten minutes apart."""
    chart = backup_chart_svg(
        backups(
            [30, 34, 41, 47, 52, 55],
            [0.02, 0.03, 0.08, 0.05, 0.04, 0.06],
            apart=datetime.timedelta(minutes=10),
        )
    )
    return parsed(chart)


def test_the_size_scale_of_30_to_55_kb_backups_is_in_kb(small_backups):
    labels = texts(small_backups)

    assert [t for t in labels if t.endswith(" KB")] == ["0 KB", "20 KB", "40 KB", "60 KB", "80 KB"]
    assert not [t for t in labels if "MB" in t]


def test_the_duration_scale_of_sub_second_backups_is_in_ms_on_the_same_grid(small_backups):
    labels = texts(small_backups)

    assert [t for t in labels if t.endswith(" ms")] == ["0 ms", "20 ms", "40 ms", "60 ms", "80 ms"]


def test_the_legend_says_which_line_is_read_on_which_scale(small_backups):
    labels = texts(small_backups)
    size_line, duration_line = (
        next(p for p in small_backups.iter(f"{SVG}polyline") if p.get("class") == kind)
        for kind in ("chart-size chart-legend", "chart-duration chart-legend")
    )

    assert "Backup size and duration" in labels
    assert "size (left scale)" in labels and "duration (right scale)" in labels
    assert duration_line.get("stroke-dasharray") and not size_line.get("stroke-dasharray")


def test_the_time_axis_is_labelled_in_the_servers_time_zone(small_backups):
    labels = texts(small_backups)

    assert [t for t in labels if ":" in t] == ["14:02", "14:18", "14:35", "14:52"]
    assert "time (UTC) on 30 Nov 2026" in labels


def test_the_chart_describes_itself_to_screen_readers(small_backups):
    title = small_backups.find(f"{SVG}title")
    desc = small_backups.find(f"{SVG}desc")

    assert small_backups.get("role") == "img"
    assert small_backups.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.text == "Backup size and duration over time"
    assert desc.text == (
        "6 successful backups from 30 Nov 2026 14:02 to 30 Nov 2026 14:52. Size from "
        "30.0 KB to 55.0 KB (solid line, left scale); duration from 0.02 s to 0.08 s "
        "(dashed line, right scale)."
    )


def test_the_chart_scales_to_its_box_on_a_phone(small_backups):
    assert small_backups.get("viewBox") == "0 0 520 250"
    assert "backup-chart" in small_backups.get("class")


def test_points_are_placed_along_the_time_axis_oldest_on_the_left():
    entries = backups([10, 20, 30], [1, 2, 3], apart=datetime.timedelta(hours=1))
    entries[0].started_at = START + datetime.timedelta(hours=3)  # newest, two hours later

    chart = parsed(backup_chart_svg(entries))

    size_line = next(p for p in chart.iter(f"{SVG}polyline") if p.get("class") == "chart-size")
    (x0, y0), (x1, _), (x2, y2) = (
        map(float, point.split(",")) for point in size_line.get("points").split()
    )
    assert x0 < x1 < x2
    assert (x1 - x0) / (x2 - x0) == pytest.approx(1 / 3, abs=0.01)
    assert y0 > y2  # the smallest, oldest backup is the lowest point


@pytest.mark.parametrize(
    ("biggest", "labels"),
    [
        (900, ["0 B", "250 B", "500 B", "750 B", "1000 B"]),
        (55 * 1024, ["0 KB", "20 KB", "40 KB", "60 KB", "80 KB"]),
        (4.5 * 1024**2, ["0 MB", "2 MB", "4 MB", "6 MB", "8 MB"]),
        (1.2 * 1024**3, ["0 GB", "0.5 GB", "1 GB", "1.5 GB", "2 GB"]),
    ],
)
def test_size_scales_pick_the_unit_that_fits(biggest, labels):
    assert size_scale(biggest, 4).tick_labels() == labels


@pytest.mark.parametrize(
    ("slowest", "labels"),
    [
        (0.08, ["0 ms", "20 ms", "40 ms", "60 ms", "80 ms"]),
        (3.2, ["0 s", "1 s", "2 s", "3 s", "4 s"]),
        (300, ["0 min", "2 min", "4 min", "6 min", "8 min"]),
    ],
)
def test_duration_scales_pick_the_unit_that_fits(slowest, labels):
    assert duration_scale(slowest, 4).tick_labels() == labels


def test_both_scales_share_the_grid_lines_that_waste_the_least_height():
    sizes, durations = chart_scales(55 * 1024, 0.5)

    assert sizes.tick_labels() == ["0 KB", "20 KB", "40 KB", "60 KB"]
    assert durations.tick_labels() == ["0 ms", "200 ms", "400 ms", "600 ms"]


def test_a_single_backup_gets_a_sentence_not_a_chart():
    html = backup_chart_svg(backups([30], [0.1], apart=datetime.timedelta(0)))

    assert "<svg" not in html
    assert "after two successful backups" in html


def test_names_are_escaped_in_the_points_tooltips():
    entries = backups([30, 40], [0.1, 0.2], apart=datetime.timedelta(minutes=1))
    entries[0].name = "<script>alert(1)</script>"

    chart = backup_chart_svg(entries)

    assert "<script>" not in chart and "&lt;script&gt;" in chart
