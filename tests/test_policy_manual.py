"""The collection-policy settings of the manual: one clear line for each mistake; CNPJ/CPF check digits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import invoke
from toolkit.errors import ManualError
from toolkit.manual import load_manual
from toolkit.policy.tax_id import cnpj_valid, cpf_valid, ein_valid, tax_id_problem

BRAZIL = """
[company]
locale = "pt_BR"
currency = "BRL"
address = "Rua das Flores, 10, São Paulo - SP"
tax_id = "11.222.333/0001-81"
"""


def error_of(tmp_path: Path, text: str) -> str:
    path = tmp_path / "billing-manual.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ManualError) as caught:
        load_manual(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[late_fees]\nfine_percent = -1.0", "[late_fees] fine_percent must not be negative, got -1.0"),
        (
            "[late_fees]\ninterest_percent_per_month = -0.5",
            "[late_fees] interest_percent_per_month must not be negative",
        ),
        ("[late_fees]\nflat_fee = -5.0", "[late_fees] flat_fee must not be negative"),
        ("[late_fees]\ngrace_days = -2", "[late_fees] grace_days must not be negative"),
        ("[late_fees]\nmax_fine_percent = -2.0", "[late_fees] max_fine_percent must not be negative"),
        ("[late_fees]\nmax_interest_percent = -2.0", "[late_fees] max_interest_percent must not be negative"),
        (
            "[late_fees]\nfine_percent = 10.0\nmax_fine_percent = 2.0",
            "[late_fees] fine_percent = 10.0 is above max_fine_percent = 2.0; lower one of them",
        ),
        ("[late_fees]\nenabled = true", "[late_fees] enabled is true but fine_percent, interest_percent_per_month"),
        ('[late_fees]\nfine_percent = "2 %"', "[late_fees] fine_percent must be a number, got '2 %'"),
        ('[late_fees]\nexempt_customers = [""]', "[late_fees] exempt_customers must not hold an empty name"),
        ('[late_fees]\nexempt_on_hold = "yes"', "[late_fees] exempt_on_hold must be true or false"),
        ("[reminders]\nmin_days_between = -1", "[reminders] min_days_between must not be negative"),
        (
            '[reminders]\nsend_window = "weekdays 8-20"',
            "[reminders] send_window: 'weekdays 8-20' is not days and hours like \"Mon-Fri 08:00-20:00\"",
        ),
        (
            '[reminders]\nsend_window = "Mon-Fri 20:00-08:00"',
            "[reminders] send_window: 'Mon-Fri 20:00-08:00' ends before it starts",
        ),
        ('[reminders]\nsend_window = "Mon-Fri 08:00-25:00"', "[reminders] send_window: '25:00' is not a time of day"),
        (
            '[reminders]\nholidays = ["25/12/2026"]',
            "[reminders] holidays: '25/12/2026' is not a date written \"YYYY-MM-DD\"",
        ),
        ('[reminders]\nnational_holidays = "yes"', "[reminders] national_holidays must be true or false"),
        ("[company]\nlegal_name = 5", "[company] legal_name must be text in quotes, got 5"),
        ('[reminders]\ndo_not_contact = "Northwind"', "[reminders] do_not_contact must be a list in [brackets]"),
        ('[company]\ntimezone = "Sao Paulo"', "[company] timezone: 'Sao Paulo' is not a time zone"),
        ('[company]\ncountry = "Brasil"', "[company] country 'Brasil' is not a two-letter country code"),
        ('[company]\ntax_id = "12-345"', "[company] tax_id '12-345' must be an EIN written 12-3456789"),
        ('[columns]\nno_reminders = "Opt out"', "[columns] no_reminders must be a list in [brackets]"),
        (
            '[output_columns]\namount_due = "Balance"',
            "[output_columns] amount_due = 'Balance' is also the name of an input column",
        ),
        ('[customers_sheet]\ntimezone = "Time Zone"', "[customers_sheet] timezone must be a list in [brackets]"),
    ],
)
def test_each_new_setting_has_a_one_line_error(tmp_path: Path, text: str, expected: str) -> None:
    """A wrong value names the file and the setting, and says what is expected, in one line."""
    assert expected in error_of(tmp_path, text)


@pytest.mark.parametrize("missing", ["address", "tax_id"])
def test_a_brazilian_manual_needs_address_and_tax_id(tmp_path: Path, missing: str) -> None:
    """With locale pt_BR, leaving out the address or the CNPJ/CPF is an error naming the setting and CDC art. 42-A."""
    text = "\n".join(line for line in BRAZIL.splitlines() if not line.startswith(missing))
    message = error_of(tmp_path, text)
    assert f"[company] {missing} is required with locale pt_BR" in message and "CDC art. 42-A" in message


def test_a_brazilian_tax_id_with_wrong_check_digits_is_refused(tmp_path: Path) -> None:
    """A CNPJ whose last digits do not match is named as such, before any message is written."""
    message = error_of(tmp_path, BRAZIL.replace("0001-81", "0001-82"))
    assert "[company] tax_id '11.222.333/0001-82' is not a valid CNPJ (its check digits do not match)" in message


def test_the_cli_shows_the_error_as_one_line(tmp_path: Path) -> None:
    """`receivables check` with a bad policy setting: one line, exit 1, no traceback."""
    (tmp_path / "billing-manual.toml").write_text("[reminders]\nmin_days_between = -3\n", encoding="utf-8")
    book = tmp_path / "receivables.xlsx"
    book.write_bytes(b"")
    result = invoke("check", book, "--manual", tmp_path / "billing-manual.toml")
    assert result.exit_code == 1
    assert "[reminders] min_days_between must not be negative (0 means no limit)" in result.output
    assert "Traceback" not in result.output


def test_a_complete_brazilian_manual_loads() -> None:
    """The Brazilian sample's manual (fees on, CNPJ, address, window) is accepted as it is."""
    manual = load_manual(Path(__file__).resolve().parents[1] / "sample_workbooks" / "brasil" / "billing-manual.toml")
    assert manual.section("late_fees")["enabled"] and manual.section("late_fees")["fine_percent"] == 2.0


# --------------------------------------------------------------------------------------------
# Check digits


@pytest.mark.parametrize("number", ["11.222.333/0001-81", "11222333000181", "12.345.678/0001-95", "45.997.418/0001-53"])
def test_valid_cnpjs(number: str) -> None:
    """Real-form CNPJs with matching check digits, with or without punctuation."""
    assert cnpj_valid(number)


@pytest.mark.parametrize(
    "number", ["11.222.333/0001-80", "11.222.333/0001-18", "00.000.000/0000-00", "11.111.111/1111-11", "1122233300018"]
)
def test_invalid_cnpjs(number: str) -> None:
    """A wrong check digit, swapped digits, one repeated digit, too few digits: not a CNPJ."""
    assert not cnpj_valid(number)


@pytest.mark.parametrize("number", ["529.982.247-25", "52998224725", "111.444.777-35"])
def test_valid_cpfs(number: str) -> None:
    """CPFs with matching check digits."""
    assert cpf_valid(number)


@pytest.mark.parametrize("number", ["529.982.247-24", "111.111.111-11", "123.456.789-00", "5299822472"])
def test_invalid_cpfs(number: str) -> None:
    """A wrong check digit, one repeated digit, a check digit that does not follow, too few digits."""
    assert not cpf_valid(number)


def test_ein_format_and_countries_without_a_rule() -> None:
    """An EIN is 12-3456789 (no check digit exists); other countries' ids are not judged."""
    assert ein_valid("12-3456789") and ein_valid("123456789") and not ein_valid("12-34567")
    assert tax_id_problem("GB123456789", "GB") is None
    assert tax_id_problem("123.456.789-09", "BR") is None
    assert (
        tax_id_problem("123", "BR")
        == "must be a CNPJ (14 digits, 12.345.678/0001-95) or a CPF (11 digits, 123.456.789-09)"
    )
