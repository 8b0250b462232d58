"""Number settings of the billing manual: nan and infinity are refused in one line naming the setting."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from toolkit.errors import ManualError
from toolkit.manual import load_manual

STARTER = Path(__file__).resolve().parent.parent / "toolkit" / "billing-manual.toml"


def number_settings(table: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every number setting of the starter manual, as (table path, key)."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from number_settings(value, (*path, key))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield path, key


SETTINGS = sorted(number_settings(tomllib.loads(STARTER.read_text(encoding="utf-8"))))


def test_the_starter_manual_has_number_settings_to_check() -> None:
    """The walk finds the number settings, among them [policy] balance_tolerance."""
    assert (("policy",), "balance_tolerance") in SETTINGS and len(SETTINGS) >= 5


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
@pytest.mark.parametrize(("path", "key"), SETTINGS, ids=[".".join((*p, k)) for p, k in SETTINGS])
def test_nan_and_infinity_are_refused_in_every_number_setting(
    tmp_path: Path, path: tuple[str, ...], key: str, value: str
) -> None:
    """Each number setting set to nan or (minus) infinity is refused, naming the setting, never accepted."""
    manual = tmp_path / "billing-manual.toml"
    manual.write_text(f"[{'.'.join(path)}]\n{key} = {value}\n" if path else f"{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ManualError) as caught:
        load_manual(manual)
    assert f"[{'.'.join(path)}] {key}" in str(caught.value)


def test_nan_in_a_credit_limit_is_refused(tmp_path: Path) -> None:
    """A credit limit of nan in [credit_limits] is refused, naming the customer's setting."""
    manual = tmp_path / "billing-manual.toml"
    manual.write_text('[credit_limits]\n"Acme Ltd" = nan\n', encoding="utf-8")
    with pytest.raises(ManualError, match=r"\[credit_limits\] Acme Ltd must be a finite number"):
        load_manual(manual)


def test_balance_tolerance_nan_is_one_line_from_the_cli(workbook: Path) -> None:
    """`[policy] balance_tolerance = nan` gives one line naming it, not an internal error."""
    (workbook.parent / "billing-manual.toml").write_text("[policy]\nbalance_tolerance = nan\n", encoding="utf-8")
    result = invoke("check", workbook)
    assert result.exit_code == 1
    assert "[policy] balance_tolerance must be a finite number, got nan" in result.output
    assert "internal error" not in result.output and len(result.output.strip().splitlines()) == 1
