"""The README and `--help` stay in step: every command is documented in both."""

from __future__ import annotations

import re

from tests.conftest import ROOT, invoke
from toolkit.cli import cli


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_has_help_and_a_readme_section() -> None:
    """Each CLI command has help text and a '### receivables NAME' section in the README."""
    text = readme()
    for name, command in cli.commands.items():  # type: ignore[attr-defined]
        assert command.help and len(command.help) > 20, name
        assert f"### receivables {name}" in text, f"README has no section for 'receivables {name}'"


def test_every_option_in_help_is_in_the_readme() -> None:
    """Each option a command accepts appears in the README (or, for a feature's own options, in its page in docs/)."""
    text = readme() + "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
    for name in cli.commands:  # type: ignore[attr-defined]
        help_text = invoke(name, "--help").output
        for option in set(re.findall(r"--[a-z][a-z-]+", help_text)) - {"--help"}:
            assert option in text, f"README does not mention {option} of 'receivables {name}'"


def test_quick_start_is_make_demo_and_make_test() -> None:
    """The README's quick start is the two commands that set everything up."""
    quick = readme().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick and "make test" in quick
