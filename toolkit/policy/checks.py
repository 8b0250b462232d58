"""The manual's collection-policy settings checked for meaning, each failure one line naming the setting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Fail = Callable[[str, str], None]


def check_late_fees(fees: dict[str, Any], fail: Fail) -> None:
    """Percentages and fees not negative; a fine above its own cap is a mistake, not something to cap quietly."""
    for key in ("fine_percent", "interest_percent_per_month", "flat_fee", "max_fine_percent", "max_interest_percent"):
        if fees[key] < 0:
            fail(f"[late_fees] {key}", f"must not be negative, got {fees[key]}")
    if fees["grace_days"] < 0:
        fail("[late_fees] grace_days", f"must not be negative, got {fees['grace_days']}")
    if fees["max_fine_percent"] and fees["fine_percent"] > fees["max_fine_percent"]:
        fail(
            "[late_fees] fine_percent",
            f"= {fees['fine_percent']} is above max_fine_percent = {fees['max_fine_percent']}; lower one of them",
        )
    if fees["enabled"] and not (fees["fine_percent"] or fees["interest_percent_per_month"] or fees["flat_fee"]):
        fail("[late_fees] enabled", "is true but fine_percent, interest_percent_per_month and flat_fee are all 0")
    if any(not str(name).strip() for name in fees["exempt_customers"]):
        fail("[late_fees] exempt_customers", "must not hold an empty name")


def check_contact_limits(settings: dict[str, Any], source: str, fail: Fail) -> None:
    """``min_days_between``, ``send_window``, ``holidays``, ``[company] timezone`` and ``country``."""
    from toolkit.policy.contact import holiday_dates, parse_window, zone_named

    reminders, company = settings["reminders"], settings["company"]
    if reminders["min_days_between"] < 0:
        fail("[reminders] min_days_between", "must not be negative (0 means no limit)")
    if str(reminders["send_window"]).strip():
        parse_window(str(reminders["send_window"]), f"{source}: [reminders] send_window")
    holiday_dates(reminders["holidays"], f"{source}: [reminders] holidays")
    if str(company["timezone"]).strip():
        zone_named(str(company["timezone"]), f"{source}: [company] timezone")
    country = str(company["country"]).strip()
    if country:
        import holidays

        if country.upper() not in holidays.list_supported_countries():
            fail("[company] country", f"{country!r} is not a two-letter country code like US, BR or GB")


def check_company(company: dict[str, Any], fail: Fail) -> None:
    """Who is collecting: in Brazil (locale pt_BR) address and tax_id are required (CDC art. 42-A)."""
    from toolkit.policy.tax_id import tax_id_problem

    locale = str(company["locale"])
    brazil = locale.replace("-", "_").lower() == "pt_br"
    if brazil:
        for key in ("address", "tax_id"):
            if not str(company[key]).strip():
                fail(
                    f"[company] {key}",
                    "is required with locale pt_BR: every collection message must show the supplier's name, "
                    "address and CNPJ/CPF (CDC art. 42-A)",
                )
    country = str(company["country"]).strip().upper() or locale.replace("-", "_").partition("_")[2].upper()
    problem = tax_id_problem(str(company["tax_id"]), country)
    if problem:
        fail("[company] tax_id", f"{company['tax_id']!r} {problem}")
