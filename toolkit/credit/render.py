"""The credit decision on the terminal: the decision first, in plain words, then the table of reasons."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from toolkit.credit.decision import APPROVE, CONDITIONS, DECLINE, REFER, CreditDecision
from toolkit.text import printable

_HEADLINES = {
    APPROVE: ("APPROVE", "green", "sell on credit"),
    CONDITIONS: ("APPROVE WITH CONDITIONS", "yellow", "sell, on the conditions below"),
    REFER: ("REFER", "magenta", "ask the owner before selling on credit"),
    DECLINE: ("DECLINE", "red", "do not sell on credit"),
}


def print_decision(console: Console, result: CreditDecision, money: str) -> None:
    """Print the decision (``money`` is the order amount as the locale writes it) and every reason."""
    word, colour, advice = _HEADLINES[result.decision]
    who = printable(result.customer) + (" (new customer)" if result.new_customer else "")
    headline = Text()
    headline.append(f"{word}: ", style=f"bold {colour}")
    headline.append(f"{advice}. Order of {money} for {who}, as of {result.as_of.isoformat()}.")
    console.print(headline)
    if result.conditions:
        console.print(Text(f"Conditions: {result.conditions}."))
    deciding = [r for r in result.deciding if r.decision != APPROVE]
    if deciding:
        console.print(Text("Because: " + "; ".join(printable(r.detail) for r in deciding) + "."))
    table = Table(show_header=True, header_style="bold", title=None)
    table.add_column("Rule")
    table.add_column("Figure")
    table.add_column("Leads to")
    table.add_column("Why")
    for reason in result.reasons:
        style = _HEADLINES[reason.decision][1] if reason.decision != APPROVE else ""
        table.add_row(
            reason.rule, printable(reason.figure), Text(reason.decision, style=style), printable(reason.detail)
        )
    console.print(table)
