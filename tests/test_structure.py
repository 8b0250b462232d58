"""The library's shape stays as docs/development.md draws it: backends apart, errors in one place, short functions."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import toolkit
from tests.conftest import ROOT
from toolkit.errors import ToolkitError

LIBRARY = ROOT / "toolkit"
# The one module where the two backends meet (opening a source names both).
MEETING_POINT = "pipeline"
LONGEST_FUNCTION = 80  # lines, docstring included


def modules() -> list[tuple[str, ast.Module]]:
    """Every module of the library: its dotted name below ``toolkit`` and its syntax tree."""
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        name = ".".join(path.relative_to(LIBRARY).with_suffix("").parts)
        found.append((name, ast.parse(path.read_text(encoding="utf-8"))))
    return found


def imported(tree: ast.Module) -> set[str]:
    """The toolkit modules a module imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("toolkit"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("toolkit"))
    return names


def test_no_module_but_the_pipeline_imports_both_backends() -> None:
    """xlsx/ never imports sheets/, nor sheets/ xlsx/; only the pipeline knows both."""
    for name, tree in modules():
        uses = imported(tree)
        xlsx = any(m.startswith("toolkit.xlsx") for m in uses)
        sheets = any(m.startswith("toolkit.sheets") for m in uses)
        assert not (xlsx and sheets) or name == MEETING_POINT, f"toolkit/{name} imports both backends"
        if name.startswith("xlsx."):
            assert not sheets, f"toolkit/{name} imports the Google Sheets backend"
        if name.startswith("sheets."):
            assert not xlsx, f"toolkit/{name} imports the xlsx backend"


def test_only_the_cli_imports_click() -> None:
    """The library never imports click: the CLI is a thin layer over it."""
    for name, tree in modules():
        uses = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        uses |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert name == "cli" or not any(u == "click" or u.startswith("click.") for u in uses), name


def test_every_error_that_stops_a_run_lives_in_errors() -> None:
    """Every ToolkitError subclass is defined in toolkit/errors.py, as its docstring says."""
    for info in pkgutil.walk_packages(toolkit.__path__, "toolkit."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, ToolkitError) and cls.__module__ == info.name:
                assert info.name == "toolkit.errors", f"{cls.__name__} is defined in {info.name}"


def test_no_function_is_longer_than_80_lines() -> None:
    """No function of the library runs past 80 lines; longer ones are split into named steps."""
    long = []
    for name, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LONGEST_FUNCTION:
                    long.append(f"toolkit/{name}: {node.name} ({length} lines)")
    assert not long, long


def test_the_subpackages_draw_the_data_path() -> None:
    """rows/, xlsx/, sheets/, reminders/ and report/ exist, each with the modules the data path needs."""
    expected = {
        "rows": {"layout", "invoices", "values", "validate", "aging"},
        "xlsx": {"source", "package", "scan", "read", "patch", "check", "safe_write"},
        "sheets": {"source", "api"},
        "reminders": {"daily", "schedule", "compose", "journal", "eml", "smtp"},
        "report": {"figures", "render"},
    }
    for package, names in expected.items():
        present = {Path(p).stem for p in (LIBRARY / package).glob("*.py")}
        assert names <= present, f"toolkit/{package} lacks {sorted(names - present)}"
