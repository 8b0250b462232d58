"""The billing manual: defaults, `receivables init`, and clear errors for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import invoke
from toolkit.errors import ManualError
from toolkit.manual import find_manual, load_manual, starter_text


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "billing-manual.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_starter_file() -> None:
    """With no manual the built-in defaults apply, and they are exactly what `init` writes."""
    manual = load_manual()
    assert manual.aging.labels == ["1-30", "31-60", "61-90", "90+"]
    assert manual.policy["max_terms_days"] == 60
    assert "Vencimento" in manual.column_aliases["due_date"]
    assert "Valor" in manual.column_aliases["amount"]
    assert "Cliente" in manual.column_aliases["customer"]
    assert [s.offset_days for s in manual.reminder_stages] == [-3, 1, 15, 30]


def test_init_writes_a_commented_manual_and_refuses_to_overwrite(tmp_path: Path) -> None:
    """`receivables init` writes billing-manual.toml once; a second time it refuses and keeps the file."""
    first = invoke("init", tmp_path)
    assert first.exit_code == 0, first.output
    path = tmp_path / "billing-manual.toml"
    assert path.read_text(encoding="utf-8") == starter_text()
    assert starter_text().count("#") > 50  # every setting explained
    path.write_text("# mine\n", encoding="utf-8")
    second = invoke("init", tmp_path)
    assert second.exit_code != 0
    assert "already exists" in second.output
    assert path.read_text(encoding="utf-8") == "# mine\n"


def test_user_settings_override_defaults_and_keep_the_rest(tmp_path: Path) -> None:
    """A manual that sets one value keeps every other default."""
    manual = load_manual(write(tmp_path, "[policy]\nmax_terms_days = 90\n[aging]\nbuckets = [15, 45]\n"))
    assert manual.policy["max_terms_days"] == 90
    assert manual.policy["require_email"] is True
    assert manual.aging.labels == ["1-15", "16-45", "45+"]


def test_manual_next_to_the_workbook_is_found(tmp_path: Path) -> None:
    """billing-manual.toml beside the workbook is the one used."""
    path = write(tmp_path, "")
    assert find_manual(tmp_path / "receivables.xlsx") == path
    assert find_manual(tmp_path / "sub" / "receivables.xlsx") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[policy]\nmax_term = 30\n", "[policy] max_term: unknown setting"),
        ("[policy]\nmax_term = 30\n", "did you mean 'max_terms_days'"),
        ("[polcy]\nx = 1\n", "polcy: unknown setting"),
        ("[policy]\nmax_terms_days = 'sixty'\n", "[policy] max_terms_days must be a whole number, got 'sixty'"),
        ("[policy]\nrequire_email = 'yes'\n", "must be true or false"),
        ("[policy]\npayment_methods = ['PIX', 3]\n", "must be a list of text in quotes, got 3"),
        ("[aging]\nbuckets = [60, 30]\n", "[aging] buckets must be whole numbers of days from smallest to largest"),
        ("[aging]\nbuckets = []\n", "[aging] buckets"),
        ("[workbook]\ndate_format = 'DD/MM'\n", "[workbook] date_format must hold DD, MM and YYYY"),
        ("[smtp]\nsecurity = 'tls1'\n", "[smtp] security 'tls1' is not one of ssl, starttls, none"),
        ("[smtp]\nport = 70000\n", "[smtp] port 70000 is not a port number"),
        ("[smtp]\npassword = 'hunter2'\n", "a password is never read from the manual"),
        ("[company]\nlocale = 'xx_YY'\n", "[company] locale 'xx_YY' is not a locale"),
        ("[credit_limits]\n'Acme' = 'lots'\n", "[credit_limits] Acme must be a number"),
        ("[credit_limits]\n'Acme' = -5\n", "must not be negative"),
        (
            "[[reminders.stages]]\nname = 'a'\noffset_days = 5\n[[reminders.stages]]\nname = 'b'\noffset_days = 1\n",
            "from the earliest offset_days to the latest",
        ),
        ("[[reminders.stages]]\nname = 'a'\nofset_days = 5\n", "unknown setting 'ofset_days'"),
        ("[output_columns]\nstatus = 'Amount'\n", "is also the name of an input column"),
        ("[columns]\ninvoice = []\n", "[columns] invoice needs at least one header name"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_mistakes_name_the_file_the_key_and_what_is_allowed(tmp_path: Path, text: str, expected: str) -> None:
    """Every bad setting is an error that starts with the file name and says what is expected."""
    path = write(tmp_path, text)
    with pytest.raises(ManualError) as caught:
        load_manual(path)
    message = str(caught.value)
    assert message.startswith(str(path) + ": ")
    assert expected in message
    assert "hunter2" not in message


def test_bad_manual_through_the_cli_is_one_line_and_exit_1(tmp_path: Path, workbook: Path) -> None:
    """The CLI shows a manual mistake as one line, no traceback, and leaves the workbook alone."""
    before = workbook.read_bytes()
    manual = write(tmp_path, "[aging]\nbuckets = 'thirty'\n")
    result = invoke("run", workbook, "--manual", manual)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0
    assert "[aging] buckets must be a list" in result.output
    assert workbook.read_bytes() == before


def test_missing_manual_file_given_with_option_is_an_error(tmp_path: Path, workbook: Path) -> None:
    """--manual naming a file that is not there says so and suggests `receivables init`."""
    result = invoke("check", workbook, "--manual", tmp_path / "nope.toml")
    assert result.exit_code == 1
    assert "billing manual not found" in result.output
    assert "receivables init" in result.output


def test_init_with_templates_copies_them_for_editing(tmp_path: Path) -> None:
    """`init --templates` copies every built-in template, which the manual can then point to; never overwrites."""
    result = invoke("init", tmp_path, "--templates")
    assert result.exit_code == 0, result.output
    copied = tmp_path / "templates"
    assert (copied / "en" / "final_notice.html").is_file() and (copied / "pt_BR" / "courtesy.subject.txt").is_file()
    assert 'templates = "templates"' in result.output
    (tmp_path / "billing-manual.toml").unlink()
    again = invoke("init", tmp_path, "--templates")
    assert again.exit_code == 1 and "templates: already exists" in again.output
    assert not (tmp_path / "billing-manual.toml").exists()
