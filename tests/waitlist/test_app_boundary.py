"""The one seam between the apps: waitlist reaches backups_app only through signals.py.

backups_app builds on waitlist (it backs up and exports signups, and adds its export action
to the signup admin); waitlist asks for a backup after a signup and journals it, in its
signal receivers, and knows nothing else of backups.
"""

import ast
from pathlib import Path

import waitlist

WAITLIST = Path(waitlist.__file__).parent
SEAM = WAITLIST / "signals.py"


def imports_backups_app(path: Path) -> list[str]:
    """The `backups_app` modules that a file imports, wherever in it (functions included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [n for n in names if n == "backups_app" or n.startswith("backups_app.")]
    return found


def test_only_signals_py_imports_backups_app():
    # Migrations are walked too: none of them imports backups_app either.
    modules = sorted(WAITLIST.rglob("*.py"))
    offenders = {
        str(path.relative_to(WAITLIST)): imported
        for path in modules
        if path != SEAM and (imported := imports_backups_app(path))
    }

    assert any(p.parent.name == "migrations" for p in modules)
    assert offenders == {}


def test_the_check_sees_the_seam_it_allows():
    assert "backups_app.services" in imports_backups_app(SEAM)
