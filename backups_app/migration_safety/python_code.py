"""Reading RunPython code: does it only add rows, or transform and delete them?"""

import ast
import inspect
import textwrap
from collections.abc import Callable

# Calls that change or remove what is already there.
TRANSFORMING = {
    "delete",
    "update",
    "bulk_update",
    "save",
    "update_or_create",
    "execute",
    "executemany",
    "raw",
    "remove",
    "clear",
    "set",
    "truncate",
    # schema_editor calls inside RunPython (the July incident was delete_model + create_model)
    "delete_model",
    "remove_field",
    "alter_field",
    "alter_db_table",
}
# Calls that only add rows.
ADDING = {"create", "bulk_create", "get_or_create", "add"}


def effect_of(code: Callable | None) -> tuple[str, str]:
    """("none" | "adds" | "transforms" | "unknown", why) for a RunPython function.

    Reads the function's source (and functions of its module it calls by name). Anything the
    guard cannot read counts as "unknown", which is treated like a transformation.
    """
    if code is None:
        return "none", "no code in this direction"
    if getattr(code, "__name__", "") == "noop" and getattr(code, "__qualname__", "").startswith(
        "RunPython"
    ):
        return "none", "RunPython.noop"
    calls = _calls(code, seen=set())
    if calls is None:
        return "unknown", f"the source of {_name(code)} cannot be read"
    transforming = sorted(calls & TRANSFORMING)
    if transforming:
        return "transforms", f"{_name(code)} calls {', '.join(transforming)}"
    adding = sorted(calls & ADDING)
    if adding:
        return "adds", f"{_name(code)} only calls {', '.join(adding)}"
    return "unknown", f"{_name(code)} makes no database call the guard recognises"


def _name(code: Callable) -> str:
    return getattr(code, "__qualname__", None) or repr(code)


def _calls(code: Callable, *, seen: set[str]) -> set[str] | None:
    try:
        source = textwrap.dedent(inspect.getsource(code))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    seen.add(_name(code))
    module = inspect.getmodule(code)
    calls: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute):
            calls.add(node.func.attr)
        elif isinstance(node.func, ast.Name):
            helper = getattr(module, node.func.id, None) if module else None
            if inspect.isfunction(helper) and _name(helper) not in seen:
                inner = _calls(helper, seen=seen)
                if inner is None:
                    return None
                calls |= inner
    return calls
