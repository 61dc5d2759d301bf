"""Reviewed markers: a migration's `reviewed = {"sha256": …, "reason": …}`, bound to its content.

The hash covers the migration file without the marker itself, so writing the marker does not
change it and any other edit (an operation, a RunPython body, a comment) voids the review.
"""

import ast
import enum
import hashlib
import inspect
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db.migrations import Migration
from django.db.migrations.operations import RunPython, RunSQL, SeparateDatabaseAndState

from backups_app.migration_safety import python_code

MARKER = "reviewed"


class ReviewStatus(enum.StrEnum):
    REVIEWED = "reviewed"  # the marker matches the file
    VOID = "void"  # the file (or a helper it imports) changed since the review
    NONE = "none"  # no marker


@dataclass(frozen=True)
class Review:
    status: ReviewStatus
    reason: str = ""

    @property
    def valid(self) -> bool:
        return self.status == ReviewStatus.REVIEWED


def migration_file(migration: Migration) -> Path:
    """The .py file a loaded migration was read from."""
    module = sys.modules.get(type(migration).__module__)
    source = inspect.getsourcefile(module) if module else None
    if not source:
        raise ValidationError(
            f"The source file of migration {migration.app_label}.{migration.name} cannot be found."
        )
    return Path(source)


def _lines(text: str) -> list[str]:
    """Lines as Python's parser numbers them (str.splitlines would also break at \f, \x1c…)."""
    return io.StringIO(text, newline="").readlines()


def _read(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as handle:  # line endings as they are
        return handle.read()


def content_hash(text: str, *, helpers: list[str] = ()) -> str:
    """SHA-256 of a migration's source with its reviewed marker left out, and of the source of
    the RunPython code it imports from elsewhere (`helpers`): editing either voids a review."""
    lines = _lines(text)
    span = _marker_span(text)
    if span is not None:
        del lines[span[0] : span[1]]
    digest = hashlib.sha256("".join(lines).encode())
    for source in helpers:
        digest.update(b"\0" + source.encode())
    return digest.hexdigest()


def helper_sources(migration: Migration) -> list[str]:
    """What runs besides the file's own text: the SQL each RunSQL will execute (it may be read
    from another file), the code RunPython reaches in other modules, and custom operations'
    classes. A review covers these too."""
    found = []
    for operation in _operations(migration.operations):
        if isinstance(operation, RunSQL):
            found += [repr(operation.sql), repr(operation.reverse_sql)]
        elif isinstance(operation, RunPython):
            for code in (operation.code, operation.reverse_code):
                found += python_code.sources_of(code)
        elif not type(operation).__module__.startswith("django."):
            try:
                found.append(inspect.getsource(type(operation)))
            except (OSError, TypeError):
                found.append(repr(type(operation)))
    return found


def _operations(operations):
    for operation in operations:
        if isinstance(operation, SeparateDatabaseAndState):
            yield from _operations(operation.database_operations)
        else:
            yield operation


def review_of(migration: Migration) -> Review:
    """Whether `migration` carries a review that still matches what it will run. Django's own
    migrations (django.contrib) count as reviewed by Django; they still get their backup."""
    if type(migration).__module__.startswith("django.contrib."):
        return Review(ReviewStatus.REVIEWED, "shipped with Django")
    marker = getattr(migration, MARKER, None)
    if not marker:
        return Review(ReviewStatus.NONE)
    reason = str(marker.get("reason", "")) if isinstance(marker, dict) else ""
    try:
        path = migration_file(migration)
        text = _read(path)
    except (OSError, ValidationError):
        return Review(ReviewStatus.VOID, reason)
    expected = marker.get("sha256") if isinstance(marker, dict) else None
    if not reason.strip() or expected != content_hash(text, helpers=helper_sources(migration)):
        return Review(ReviewStatus.VOID, reason)
    return Review(ReviewStatus.REVIEWED, reason)


def write_review(migration: Migration, *, reason: str) -> Path:
    """Add (or replace) the reviewed marker in the migration's file; return the file."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError("A review needs a reason: say why the risk is acceptable.")
    path = migration_file(migration)
    text = _read(path)
    digest = content_hash(text, helpers=helper_sources(migration))
    lines = _lines(text)
    newline = "\r\n" if "\r\n" in text else "\n"  # keep the file's own line endings
    marker = [
        f"    {MARKER} = {{{newline}",
        f'        "sha256": "{digest}",{newline}',
        f'        "reason": {json.dumps(reason)},{newline}',
        f"    }}{newline}",
    ]
    span = _marker_span(text)
    if span is not None:
        lines[span[0] : span[1]] = marker
    else:
        at = _class_body_line(text)
        lines[at:at] = marker
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("".join(lines))
    return path


def _migration_class(tree: ast.Module) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            return node
    raise ValidationError("The file has no Migration class.")


def _marker_span(text: str) -> tuple[int, int] | None:
    """0-based [start, end) line range of the marker assignment, if there is one."""
    try:
        cls = _migration_class(ast.parse(text))
    except (SyntaxError, ValidationError):
        return None
    for node in cls.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == MARKER for t in targets):
            return node.lineno - 1, node.end_lineno
    return None


def _class_body_line(text: str) -> int:
    """0-based line where the Migration class body starts (after any docstring)."""
    cls = _migration_class(ast.parse(text))
    first = cls.body[0]
    if first.lineno == cls.lineno:
        raise ValidationError(
            "The Migration class is written on one line; put its body on lines of its own "
            "and review it again."
        )
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        return first.end_lineno
    return first.lineno - 1
