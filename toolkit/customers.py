"""Finding a customer by name, the way reminders match names: case, accents and punctuation ignored.

Used by the commands that take ``--customer`` (credit, statement). A name that matches
nobody is never guessed at: the error lists the closest names the workbook knows.
"""

from __future__ import annotations

import difflib

from toolkit.errors import UnknownCustomer
from toolkit.pipeline import Analysis
from toolkit.report.figures import customer_key
from toolkit.rows.validate import customer_directory


def find_customer(analysis: Analysis, name: str, *, allow_new: bool = False, hint: str = "") -> str | None:
    """The customer key ``name`` matches (normalised as reminders match names), None for a new customer.

    An exact match of the normalised name wins, then a single partial match. A name that
    matches nobody is an ``UnknownCustomer`` error listing the closest known names, unless
    ``allow_new`` (the order is a first purchase). ``hint`` ends that error's message.
    """
    known = _known_customers(analysis)
    wanted = customer_key(name)
    if wanted in known:
        return wanted
    partial = [key for key in known if wanted and wanted in key]
    if len(partial) == 1:
        return partial[0]
    if allow_new and not partial:
        return None
    if partial:
        names = ", ".join(sorted(known[k] for k in partial))
        raise UnknownCustomer(f"{analysis.source}: '{name}' matches several customers ({names}); give more of the name")
    close = difflib.get_close_matches(wanted, list(known), n=5, cutoff=0.5)
    if not close:
        close = sorted(known, key=lambda k: -difflib.SequenceMatcher(None, wanted, k).ratio())[:3]
    names = ", ".join(known[k] for k in close) or "none"
    raise UnknownCustomer(
        f"{analysis.source}: no customer named '{name}' (closest: {names}). "
        f"Give the name as the workbook writes it{hint}"
    )


def _known_customers(analysis: Analysis) -> dict[str, str]:
    """Customer key -> name as first written, from the invoices and the customers sheet."""
    known: dict[str, str] = {}
    for invoice in analysis.invoices:
        if invoice.customer:
            known.setdefault(customer_key(invoice.customer), invoice.customer)
    for key, name in customer_directory(analysis.data, analysis.manual).names.items():
        known.setdefault(key, name)
    return known
