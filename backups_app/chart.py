"""A small SVG chart of backup size and duration over time, drawn by the app (no CDN)."""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from backups_app.models import Backup

WIDTH, HEIGHT, PAD = 560, 160, 28


def backup_chart_svg(backups: list[Backup]) -> SafeString:
    """Two lines, oldest to newest: size (blue, left scale) and duration (orange, right scale)."""
    points = [b for b in backups if b.size_bytes is not None and b.duration_seconds is not None]
    points.sort(key=lambda b: b.started_at)
    if len(points) < 2:
        return mark_safe('<p class="help">The chart appears after two successful backups.</p>')
    biggest = max(b.size_bytes for b in points) or 1
    slowest = max(b.duration_seconds for b in points) or 1
    step = (WIDTH - 2 * PAD) / (len(points) - 1)

    def polyline(values: list[float], top: float, colour: str) -> str:
        coordinates = " ".join(
            f"{PAD + i * step:.1f},{HEIGHT - PAD - (v / top) * (HEIGHT - 2 * PAD):.1f}"
            for i, v in enumerate(values)
        )
        return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coordinates}"/>'

    first, last = points[0].started_at, points[-1].started_at
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="Backup size and duration, {len(points)} backups">'
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="none" stroke="#ccc"/>'
        + polyline([b.size_bytes for b in points], biggest, "#417690")
        + polyline([b.duration_seconds for b in points], slowest, "#e07b00")
        + f'<text x="{PAD}" y="16" font-size="11" fill="#417690">size (max '
        f"{biggest / 1e6:.1f} MB)</text>"
        + f'<text x="{WIDTH - PAD}" y="16" font-size="11" text-anchor="end" fill="#e07b00">'
        f"duration (max {slowest:.2f} s)</text>"
        + f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10" fill="#666">'
        f"{escape(first.strftime('%Y-%m-%d %H:%M'))}</text>"
        + f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="10" text-anchor="end" '
        f'fill="#666">{escape(last.strftime("%Y-%m-%d %H:%M"))}</text>'
        "</svg>"
    )
    return mark_safe(svg)  # noqa: S308 (numbers and escaped dates only)
