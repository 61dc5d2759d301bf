"""The chart of backup size and duration over time on the backups page, drawn by the app as an
SVG (§6.2: no CDN, no script): two lines on one time axis, size on the left scale and duration
on the right one, each scale in a unit that fits its figures."""

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from backups_app.humanize import human_size
from backups_app.models import Backup

WIDTH, HEIGHT = 520, 250
# Room around the plot for the title and legend (top), the two scales and the time axis.
LEFT, RIGHT, TOP, BOTTOM = 58, 58, 52, 46
SIZE_UNITS = [("B", 1), ("KB", 1024), ("MB", 1024**2), ("GB", 1024**3), ("TB", 1024**4)]


@dataclass(frozen=True)
class Scale:
    """A vertical scale from 0 to `top` (in raw units: bytes, seconds), read in `unit`, with a
    tick every `step` units."""

    unit: str
    per_unit: float  # raw units in one `unit`
    step: float
    intervals: int

    @property
    def top(self) -> float:
        return self.step * self.intervals * self.per_unit

    def tick_labels(self) -> list[str]:
        return [f"{_number(self.step * i)} {self.unit}" for i in range(self.intervals + 1)]


def chart_scales(biggest: float, slowest: float) -> tuple[Scale, Scale]:
    """The size and duration scales, on the same 3, 4 or 5 grid lines: as many as leave the
    least height unused above the biggest and the slowest backup."""

    def unused(intervals: int) -> float:
        size, took = size_scale(biggest, intervals), duration_scale(slowest, intervals)
        return size.top / (biggest or 1) + took.top / (slowest or 1)

    intervals = min((4, 3, 5), key=unused)
    return size_scale(biggest, intervals), duration_scale(slowest, intervals)


def size_scale(biggest: float, intervals: int) -> Scale:
    """Bytes in the largest unit that keeps the biggest value at 1 or more (B, KB, MB, GB, TB)."""
    unit, per_unit = next(
        ((unit, size) for unit, size in reversed(SIZE_UNITS) if biggest >= size), SIZE_UNITS[0]
    )
    return Scale(unit, per_unit, nice_step(biggest / per_unit / intervals), intervals)


def duration_scale(slowest: float, intervals: int) -> Scale:
    """Seconds as ms under a second, s under two minutes, min beyond."""
    if slowest < 1:
        unit, per_unit = "ms", 0.001
    elif slowest < 120:
        unit, per_unit = "s", 1
    else:
        unit, per_unit = "min", 60
    return Scale(unit, per_unit, nice_step(slowest / per_unit / intervals), intervals)


def nice_step(rough: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `rough`."""
    if rough <= 0:
        return 1
    power = 10 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough * (1 - 1e-9))


def _number(value: float) -> str:
    return f"{round(value, 6):g}"


def backup_chart_svg(backups: Sequence[Backup]) -> SafeString:
    """Size (solid line, left scale) and duration (dashed line, right scale) of the given
    backups, oldest to newest, against the time each started."""
    points = [b for b in backups if b.size_bytes is not None and b.duration_seconds is not None]
    points.sort(key=lambda b: b.started_at)
    if len(points) < 2:
        return mark_safe('<p class="help">The chart appears after two successful backups.</p>')
    sizes, durations = chart_scales(
        max(b.size_bytes for b in points), max(b.duration_seconds for b in points)
    )
    times = [timezone.localtime(b.started_at) for b in points]
    first, last = times[0], times[-1]
    span = (last - first).total_seconds()
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_height

    def x(index: int) -> float:
        if span <= 0:
            return LEFT + plot_width * index / (len(points) - 1)
        return LEFT + plot_width * (times[index] - first).total_seconds() / span

    def y(value: float, scale: Scale) -> float:
        return bottom - plot_height * value / scale.top

    size_xy = [(x(i), y(b.size_bytes, sizes)) for i, b in enumerate(points)]
    duration_xy = [(x(i), y(b.duration_seconds, durations)) for i, b in enumerate(points)]
    described = _description(points, times)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="backup-chart" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="backup-chart-title backup-chart-desc">',
        '<title id="backup-chart-title">Backup size and duration over time</title>',
        f'<desc id="backup-chart-desc">{escape(described)}</desc>',
        f'<text class="chart-title" x="{LEFT}" y="18" font-size="14" font-weight="bold" '
        'fill="#333">Backup size and duration</text>',
        # The legend says which line is read on which scale.
        _legend_item(LEFT, 38, "chart-size", "size (left scale)"),
        _legend_item(LEFT + 150, 38, "chart-duration", "duration (right scale)"),
    ]
    for i, (left_label, right_label) in enumerate(
        zip(sizes.tick_labels(), durations.tick_labels(), strict=True)
    ):
        tick_y = bottom - plot_height * i / sizes.intervals
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{tick_y:.1f}" '
            f'y2="{tick_y:.1f}" stroke="#ddd" stroke-width="1"/>'
        )
        parts.append(_text(LEFT - 6, tick_y + 4, left_label, anchor="end"))
        parts.append(_text(WIDTH - RIGHT + 6, tick_y + 4, right_label, anchor="start"))
    parts.append(
        f'<path class="chart-axis" d="M{LEFT},{TOP} V{bottom} H{WIDTH - RIGHT} V{TOP}" '
        'fill="none" stroke="#999" stroke-width="1"/>'
    )
    parts.extend(_time_axis(first, last, bottom, plot_width))
    parts.append(_line("chart-size", size_xy))
    parts.append(_line("chart-duration", duration_xy))
    for backup, (size_x, size_y), (_, duration_y) in zip(points, size_xy, duration_xy, strict=True):
        tip = escape(
            f"{backup.name}: {human_size(backup.size_bytes)}, {backup.duration_seconds:.2f} s"
        )
        parts.append(
            f'<circle class="chart-size" cx="{size_x:.1f}" cy="{size_y:.1f}" r="2.5">'
            f"<title>{tip}</title></circle>"
            f'<circle class="chart-duration" cx="{size_x:.1f}" cy="{duration_y:.1f}" r="2.5">'
            f"<title>{tip}</title></circle>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (numbers, fixed words and escaped text)


def _line(kind: str, coordinates: list[tuple[float, float]], *, legend: bool = False) -> str:
    points = " ".join(f"{px:.1f},{py:.1f}" for px, py in coordinates)
    dashes = ' stroke-dasharray="6 3"' if kind == "chart-duration" else ""
    colour = "#417690" if kind == "chart-size" else "#c05a00"
    return (
        f'<polyline class="{kind}{" chart-legend" if legend else ""}" fill="none" '
        f'stroke="{colour}" stroke-width="2"{dashes} points="{points}"/>'
    )


def _legend_item(left: float, baseline: float, kind: str, label: str) -> str:
    return _line(kind, [(left, baseline - 4), (left + 24, baseline - 4)], legend=True) + _text(
        left + 30, baseline, label, anchor="start"
    )


def _text(tx: float, ty: float, text: str, *, anchor: str) -> str:
    return (
        f'<text class="chart-label" x="{tx:.1f}" y="{ty:.1f}" font-size="12" '
        f'text-anchor="{anchor}" fill="#666">{escape(text)}</text>'
    )


def _time_axis(
    first: datetime.datetime, last: datetime.datetime, bottom: float, plot_width: float
) -> list[str]:
    """Labels at both ends and two between, in a precision that tells them apart, and a
    caption with the time zone (and the day, when every backup is from the same one)."""
    span = (last - first).total_seconds()
    if span < 600:
        pattern = "H:i:s"
    elif first.date() == last.date():
        pattern = "H:i"
    elif span < 3 * 86400:
        pattern = "j M H:i"
    elif span < 300 * 86400:
        pattern = "j M"
    else:
        pattern = "M Y"
    parts, shown = [], set()
    for i, anchor in enumerate(["start", "middle", "middle", "end"]):
        label = date_format(first + (last - first) * i / 3, pattern)
        if label in shown:
            continue  # backups seconds apart: one label says it
        shown.add(label)
        tick_x = LEFT + plot_width * i / 3
        parts.append(
            f'<line class="chart-axis" x1="{tick_x:.1f}" x2="{tick_x:.1f}" y1="{bottom}" '
            f'y2="{bottom + 4}" stroke="#999" stroke-width="1"/>'
        )
        parts.append(_text(tick_x, bottom + 16, label, anchor=anchor))
    caption = f"time ({date_format(first, 'T')})"
    if first.date() == last.date():
        caption = f"time ({date_format(first, 'T')}) on {date_format(first, 'j M Y')}"
    parts.append(_text(LEFT + plot_width / 2, HEIGHT - 6, caption, anchor="middle"))
    return parts


def _description(points: Sequence[Backup], times: list[datetime.datetime]) -> str:
    """The chart in words, for those who cannot see it."""
    sizes = [b.size_bytes for b in points]
    durations = [b.duration_seconds for b in points]
    return (
        f"{len(points)} successful backups from {date_format(times[0], 'j M Y H:i')} to "
        f"{date_format(times[-1], 'j M Y H:i')}. Size from {human_size(min(sizes))} to "
        f"{human_size(max(sizes))} (solid line, left scale); duration from "
        f"{min(durations):.2f} s to {max(durations):.2f} s (dashed line, right scale)."
    )
