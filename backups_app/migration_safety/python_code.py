"""Reading RunPython code: does it only read or add rows, or may it transform and delete them?

An allow-list, not a deny-list: code counts as "adds" or "reads" only when every call in it is
one the guard knows to be harmless; anything else it cannot vouch for is "unknown", which the
guard treats like a transformation.
"""

import ast
import builtins
import enum
import inspect
import textwrap
from collections.abc import Callable

# Named anywhere (called or not): these change or remove what is already there.
TRANSFORMING = {
    "delete",
    "_raw_delete",
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
    "deferred_sql",
    "update_conflicts",  # bulk_create(..., update_conflicts=True) overwrites rows
    # schema_editor calls (the July incident was delete_model + create_model)
    "delete_model",
    "remove_field",
    "alter_field",
    "alter_db_table",
}
# Calls that only add rows.
ADDING = {"create", "bulk_create", "get_or_create", "add"}
# Calls that read, build querysets and objects, or handle plain values.
READING = {
    "get_model",
    "all",
    "filter",
    "exclude",
    "get",
    "first",
    "last",
    "exists",
    "count",
    "values",
    "values_list",
    "order_by",
    "only",
    "defer",
    "select_related",
    "prefetch_related",
    "using",
    "iterator",
    "annotate",
    "aggregate",
    "distinct",
    "none",
    "in_bulk",
    "db_manager",
    "append",
    "extend",
    "items",
    "keys",
    "format",
    "join",
    "split",
    "strip",
    "lower",
    "upper",
    "replace",
    "startswith",
    "endswith",
    "encode",
    "decode",
}
# Builtins that cannot reach the database or run code given as a string.
SAFE_BUILTINS = {
    name
    for name in dir(builtins)
    if name
    not in {"getattr", "setattr", "delattr", "eval", "exec", "compile", "__import__", "open"}
}


class Effect(enum.StrEnum):
    """What a RunPython function does to the data, as far as its source shows."""

    NONE = "none"  # no code, or RunPython.noop
    READS = "reads"
    ADDS = "adds"  # only creates rows
    TRANSFORMS = "transforms"  # updates or deletes rows, or runs raw SQL
    UNKNOWN = "unknown"  # calls what the guard cannot vouch for


def effect_of(code: Callable | None) -> tuple[Effect, str]:
    """(Effect, why) for a RunPython function.

    Reads the function's source, and the functions of its own module it calls by name.
    """
    if code is None:
        return Effect.NONE, "no code in this direction"
    if getattr(code, "__qualname__", "") == "RunPython.noop":
        return Effect.NONE, "RunPython.noop"
    if hasattr(code, "__wrapped__"):  # the decorator's wrapper runs too, and cannot be read
        return Effect.UNKNOWN, f"{_name(code)} is decorated"
    read = _read(code, seen=set(), sources=[])
    if read is None:
        return Effect.UNKNOWN, f"the source of {_name(code)} cannot be read"
    named, called = read
    transforming = sorted(named & TRANSFORMING)
    if transforming:
        return Effect.TRANSFORMS, f"{_name(code)} uses {', '.join(transforming)}"
    unknown = sorted(called - ADDING - READING - SAFE_BUILTINS)
    if unknown:
        return (
            Effect.UNKNOWN,
            f"{_name(code)} calls {', '.join(unknown)}, which the guard cannot vouch for",
        )
    adding = sorted(called & ADDING)
    if adding:
        return Effect.ADDS, f"{_name(code)} only adds rows ({', '.join(adding)})"
    return Effect.READS, f"{_name(code)} only reads"


def sources_of(code: Callable | None) -> list[str]:
    """The source of `code` and of the same-module functions it calls (what `effect_of` read)."""
    sources: list[str] = []
    if code is not None:
        _read(code, seen=set(), sources=sources)
    return sources


def _name(code: Callable) -> str:
    return getattr(code, "__qualname__", None) or repr(code)


def _read(code: Callable, *, seen: set[str], sources: list[str]):
    """(every attribute named, every call made) in `code`, following the functions of its own
    module that it calls; None when some source cannot be read."""
    try:
        source = textwrap.dedent(inspect.getsource(code))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    seen.add(_name(code))
    sources.append(source)
    module = inspect.getmodule(code)
    models = _model_variables(tree)
    named: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.decorator_list:
            called.add("<decorator>")  # the decorator's code runs too
        if isinstance(node, ast.Attribute):
            named.add(node.attr)
        if isinstance(node, ast.keyword) and node.arg:
            named.add(node.arg)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            # A function of the module, called or passed on (map(helper, rows)): read it too.
            helper = getattr(module, node.id, None) if module else None
            if inspect.isfunction(helper) and _name(helper) not in seen:
                if helper.__module__ != module.__name__:
                    called.add(node.id)  # imported from elsewhere: cannot vouch for it
                    sources += [_source(helper)]
                    continue
                inner = _read(helper, seen=seen, sources=sources)
                if inner is None:
                    return None
                named |= inner[0]
                called |= inner[1]
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute):
            called.add(node.func.attr)
        elif not isinstance(node.func, ast.Name):
            called.add("<expression>")
        elif not _is_local_function(module, node.func.id) and node.func.id not in models:
            called.add(node.func.id)  # models from apps.get_model are harmless to build
    return named, called


def _is_local_function(module, name: str) -> bool:
    helper = getattr(module, name, None) if module else None
    return inspect.isfunction(helper) and helper.__module__ == module.__name__


def _source(code: Callable) -> str:
    try:
        return inspect.getsource(code)
    except (OSError, TypeError):
        return repr(code)


def _model_variables(tree: ast.AST) -> set[str]:
    """Names assigned from `apps.get_model(...)`."""
    return {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr == "get_model"
        for target in node.targets
        if isinstance(target, ast.Name)
    }
