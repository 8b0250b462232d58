"""The docs stay in step with the code: commands and options, links, the module map, every manual setting."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from tests.conftest import ROOT, invoke
from toolkit.cli import cli

DOCS = ROOT / "docs"
_LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "BENCHMARKS.md", *sorted(DOCS.glob("*.md"))]


def manual_reference():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("manual_reference", DOCS / "manual_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_command_has_help_and_a_section() -> None:
    """Each CLI command has help text and a '## receivables NAME' section in docs/commands.md."""
    text = text_of(DOCS / "commands.md")
    for name, command in cli.commands.items():  # type: ignore[attr-defined]
        assert command.help and len(command.help) > 20, name
        assert f"## receivables {name}\n" in text, f"docs/commands.md has no section for 'receivables {name}'"


def test_every_option_in_help_is_documented() -> None:
    """Each option a command accepts appears in that command's section of docs/commands.md."""
    text = text_of(DOCS / "commands.md")
    for name in cli.commands:  # type: ignore[attr-defined]
        section = text.split(f"## receivables {name}\n", 1)[1].split("\n## ", 1)[0]
        help_text = invoke(name, "--help").output
        for option in set(re.findall(r"--[a-z][a-z-]+", help_text)) - {"--help"}:
            assert option in section, f"docs/commands.md does not mention {option} of 'receivables {name}'"


def test_readme_is_short_and_starts_with_the_owner() -> None:
    """The README stays under 12 KB and puts the owner's install and daily command before development."""
    readme = text_of(ROOT / "README.md")
    assert len(readme.encode("utf-8")) <= 12 * 1024
    headings = re.findall(r"^## (.+)$", readme, re.M)
    assert headings.index("Install") < headings.index("Every morning: one command") < headings.index("Development")
    assert headings[-1] == "Development"
    development = readme.split("## Development", 1)[1]
    assert "make demo" in development and "make test" in development


def test_every_relative_link_resolves() -> None:
    """Every relative link in the README, SECURITY.md, BENCHMARKS.md and docs/ points at a file that exists."""
    broken = []
    for page in pages():
        for target in _LINK.findall(text_of(page)):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_every_module_is_in_the_module_map() -> None:
    """docs/development.md's module map names every module of the library."""
    text = text_of(DOCS / "development.md")
    for path in sorted((ROOT / "toolkit").rglob("*.py")):
        if path.name == "__init__.py":
            continue
        name = path.relative_to(ROOT / "toolkit").as_posix()
        assert f"`{name}`" in text, f"docs/development.md's module map leaves out {name}"


def test_every_manual_setting_is_documented() -> None:
    """docs/billing-manual.md holds the reference generated from the starter manual, up to date."""
    module = manual_reference()
    page = text_of(DOCS / "billing-manual.md")
    expected = module.page_with_reference(page, text_of(ROOT / "toolkit" / "billing-manual.toml"))
    assert page == expected, "docs/billing-manual.md is out of date: run python docs/manual_reference.py"
    for _table, key in re.findall(
        r"^\[\[?([a-z_.]+)\]\]?$|^([a-z_]+) =", text_of(ROOT / "toolkit" / "billing-manual.toml"), re.M
    ):
        if key:
            assert f"| `{key}` |" in page
