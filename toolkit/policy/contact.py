"""Who may be contacted, how often and when: do-not-contact, ``min_days_between``, the send window.

* Do not contact: an invoice marked in the ``[columns] no_reminders`` column, or a customer
  (name or email) listed in ``[reminders] do_not_contact``, gets no collection message.
* ``[reminders] min_days_between``: no customer gets two collection messages less than N
  days apart, whatever the stages say. The last contact comes from the send journal and
  the sheet's ``Last Reminder`` column. Only reminder-schedule messages count: a thank-you
  or a receipt is not a collection message.
* ``[reminders] send_window`` (``"Mon-Fri 08:00-20:00"``) in ``[company] timezone``, minus
  ``holidays`` and the national holidays of ``[company] country``: ``--send`` sends only
  inside it. A customer with a time zone on the customers sheet has the window in theirs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from toolkit.errors import ManualError
from toolkit.manual import BillingManual
from toolkit.reminders.journal import Attempt
from toolkit.reminders.schedule import DueReminder, Schedule, Skipped, as_date
from toolkit.rows.invoices import Invoice
from toolkit.rows.layout import SheetData
from toolkit.rows.values import to_text
from toolkit.text import normalize_header

SKIP_DO_NOT_CONTACT = "do_not_contact"
SKIP_CONTACT_LIMIT = "contact_limit"
SKIP_SEND_WINDOW = "send_window"

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(
    r"^\s*(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)
# --------------------------------------------------------------------------------------------
# The send window


@dataclass(frozen=True)
class WindowSpan:
    """One part of the window: ``days`` (0 = Monday) from ``start`` to ``end``."""

    days: frozenset[int]
    start: time
    end: time


@dataclass(frozen=True)
class SendWindow:
    """When sending is allowed: spans of days and hours, in ``zone``, except ``holidays``."""

    text: str
    spans: tuple[WindowSpan, ...]
    zone: tzinfo
    holidays: frozenset[date] = frozenset()
    country: str = ""

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays or day in self._national

    @cached_property
    def _national(self) -> Any:
        if not self.country:
            return frozenset()
        import holidays  # the well-kept holiday tables (MIT licence)

        try:
            return holidays.country_holidays(self.country)
        except NotImplementedError:  # a territory from the locale the library has no table for
            return frozenset()

    def in_zone(self, zone: tzinfo) -> SendWindow:
        """The same window kept in another time zone (a customer's own)."""
        return SendWindow(self.text, self.spans, zone, self.holidays, self.country)

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls inside the window."""
        local = moment.astimezone(self.zone)
        if self.is_holiday(local.date()):
            return False
        clock = local.time().replace(tzinfo=None)
        return any(local.weekday() in s.days and s.start <= clock < s.end for s in self.spans)

    def next_opening(self, moment: datetime) -> datetime | None:
        """The next moment the window opens after ``moment`` (in the window's zone); None if it never does."""
        local = moment.astimezone(self.zone)
        for offset in range(0, 400):
            day = local.date() + timedelta(days=offset)
            if self.is_holiday(day):
                continue
            starts = sorted(s.start for s in self.spans if day.weekday() in s.days)
            for start in starts:
                opening = datetime.combine(day, start, tzinfo=self.zone)
                if opening > local:
                    return opening
        return None


def parse_window(text: str, where: str) -> tuple[WindowSpan, ...]:
    """``"Mon-Fri 08:00-20:00, Sat 09:00-13:00"`` as spans; a ``ManualError`` naming ``where`` otherwise."""
    spans = []
    for part in text.split(","):
        match = _SPAN.match(part.lower())
        if match is None or match["first"] not in DAYS or (match["last"] and match["last"] not in DAYS):
            raise ManualError(
                f'{where}: {part.strip()!r} is not days and hours like "Mon-Fri 08:00-20:00" '
                "(days Mon Tue Wed Thu Fri Sat Sun, hours 00:00-24:00)"
            )
        first = DAYS.index(match["first"])
        last = DAYS.index(match["last"]) if match["last"] else first
        days = range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
        start, end = _clock(match["start"], where), _clock(match["end"], where)
        if end <= start:
            raise ManualError(f"{where}: {part.strip()!r} ends before it starts")
        spans.append(WindowSpan(frozenset(days), start, end))
    return tuple(spans)


def _clock(text: str, where: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ManualError(f"{where}: {text!r} is not a time of day (00:00 to 24:00)")
    return time(hours, minutes)


def company_zone(manual: BillingManual) -> tzinfo:
    """``[company] timezone``, else this computer's."""
    name = str(manual.section("company").get("timezone", "")).strip()
    if not name:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    return zone_named(name, f"{manual.source}: [company] timezone")


def zone_named(name: str, where: str) -> ZoneInfo:
    """The IANA time zone ``name``; a ``ManualError`` naming ``where`` if there is none."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ManualError(
            f'{where}: {name!r} is not a time zone; write one like "America/Sao_Paulo" or "Europe/London"'
        ) from None


def company_country(manual: BillingManual) -> str:
    """``[company] country``, else the locale's territory (pt_BR -> BR); ``""`` if neither says."""
    country = str(manual.section("company").get("country", "")).strip().upper()
    if country:
        return country
    _, _, territory = manual.locale.replace("-", "_").partition("_")
    return territory.upper()


def send_window(manual: BillingManual) -> SendWindow | None:
    """The manual's send window, or None when sending is allowed at any time."""
    reminders = manual.section("reminders")
    text = str(reminders.get("send_window", "")).strip()
    if not text:
        return None
    spans = parse_window(text, f"{manual.source}: [reminders] send_window")
    days = frozenset(holiday_dates(reminders.get("holidays", []), f"{manual.source}: [reminders] holidays"))
    country = company_country(manual) if reminders.get("national_holidays", True) else ""
    return SendWindow(text, spans, company_zone(manual), days, country)


def holiday_dates(values: Iterable[Any], where: str) -> list[date]:
    """The ``holidays`` list: TOML dates or text ``"YYYY-MM-DD"``."""
    found = []
    for value in values:
        if isinstance(value, date) and not isinstance(value, datetime):
            found.append(value)
            continue
        try:
            found.append(date.fromisoformat(str(value).strip()))
        except ValueError:
            raise ManualError(f'{where}: {value!r} is not a date written "YYYY-MM-DD"') from None
    return found


def customer_time_zones(data: SheetData, manual: BillingManual) -> dict[str, ZoneInfo]:
    """Folded customer name -> the time zone the customers sheet gives them (cells that name none are ignored)."""
    from toolkit.rows.layout import match_header

    rows = data.extra_sheets.get("customers")
    settings = manual.section("customers_sheet")
    if not rows or not settings.get("timezone"):
        return {}
    aliases = {"customer": tuple(settings["customer"]), "timezone": tuple(settings["timezone"])}
    headers = [
        (number, match_header(values, aliases)) for number, values in enumerate(rows[: manual.header_search_rows])
    ]
    found = next(((n, c) for n, c in headers if "customer" in c and "timezone" in c), None)
    if found is None:
        return {}
    number, columns = found
    zones: dict[str, ZoneInfo] = {}
    for values in rows[number + 1 :]:
        name, zone = to_text(values.get(columns["customer"])), to_text(values.get(columns["timezone"]))
        if name and zone:
            try:
                zones[normalize_header(name)] = ZoneInfo(zone.strip())
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return zones


# --------------------------------------------------------------------------------------------
# Holding reminders back


def _customer(item: DueReminder) -> str:
    return normalize_header(item.invoice.customer or "")


def hold_back(schedule: Schedule, keep: Mapping[int, str], reason: str) -> Schedule:
    """``schedule`` with the due items whose row is in ``keep`` moved to skipped, ``keep[row]`` saying why."""
    if not keep:
        return schedule
    due = [d for d in schedule.due if d.invoice.row not in keep]
    held = [Skipped(d.invoice, reason, keep[d.invoice.row]) for d in schedule.due if d.invoice.row in keep]
    return Schedule(due, [*schedule.skipped, *held], schedule.findings, schedule.paid)


@dataclass(frozen=True)
class DoNotContact:
    """Who must not be written to: customers marked in the ``no_reminders`` column, or listed in the manual."""

    marked: frozenset[str]  # folded customer names with a mark on any of their invoices
    listed: frozenset[str]  # folded names from [reminders] do_not_contact
    listed_mail: frozenset[str]  # addresses from [reminders] do_not_contact, casefolded

    @classmethod
    def of(cls, invoices: Iterable[Invoice], manual: BillingManual) -> DoNotContact:
        """From the sheet's marks and ``[reminders] do_not_contact``."""
        entries = [str(v).strip() for v in manual.section("reminders").get("do_not_contact", [])]
        return cls(
            marked=frozenset(normalize_header(inv.customer or "") for inv in invoices if inv.do_not_contact),
            listed=frozenset(normalize_header(e) for e in entries),
            listed_mail=frozenset(e.casefold() for e in entries if "@" in e),
        )

    def reason(self, customer: str | None, email: str | None) -> str:
        """Why this customer (at this address) gets no message, or ``""``."""
        folded = normalize_header(customer or "")
        if folded in self.marked:
            return "do not contact (marked in the no-reminders column)"
        if folded in self.listed or (email or "").strip().casefold() in self.listed_mail:
            return "do not contact (listed in [reminders] do_not_contact)"
        return ""


def do_not_contact(schedule: Schedule, invoices: Iterable[Invoice], manual: BillingManual) -> Schedule:
    """Hold back every reminder to a customer marked do-not-contact (column or manual list)."""
    blocked = DoNotContact.of(invoices, manual)
    reasons = {item.invoice.row: blocked.reason(item.invoice.customer, item.email) for item in schedule.due}
    return hold_back(schedule, {row: why for row, why in reasons.items() if why}, SKIP_DO_NOT_CONTACT)


def last_contacts(attempts: Iterable[Attempt], invoices: Iterable[Invoice], manual: BillingManual) -> dict[str, date]:
    """Folded customer name -> the last day a collection message went to them (journal or Last Reminder cells)."""
    stages = {normalize_header(s.name) for s in manual.reminder_stages}
    latest: dict[str, date] = {}

    def note(customer: str, on: date | None) -> None:
        if on is not None and (customer not in latest or on > latest[customer]):
            latest[customer] = on

    for attempt in attempts:
        if attempt.counts_as_sent and normalize_header(attempt.stage) in stages:
            note(normalize_header(attempt.customer), attempt.on)
    for inv in invoices:
        note(normalize_header(inv.customer or ""), as_date(inv.outputs.get("last_reminder")))
    return latest


def contact_limit(
    schedule: Schedule, attempts: Iterable[Attempt], invoices: Iterable[Invoice], manual: BillingManual, as_of: date
) -> Schedule:
    """Hold back reminders to customers contacted less than ``[reminders] min_days_between`` days ago."""
    gap = int(manual.section("reminders").get("min_days_between", 0))
    if gap <= 0:
        return schedule
    latest = last_contacts(attempts, invoices, manual)
    reasons: dict[int, str] = {}
    for item in schedule.due:
        last = latest.get(_customer(item))
        if last is None or (as_of - last).days >= gap:
            continue
        days = (as_of - last).days
        ago = "today" if days == 0 else ("1 day ago" if days == 1 else f"{days} days ago")
        reasons[item.invoice.row] = f"last contacted {ago}; next on {(last + timedelta(days=gap)).isoformat()}"
    return hold_back(schedule, reasons, SKIP_CONTACT_LIMIT)


def outside_window(schedule: Schedule, window: SendWindow, now: datetime, zones: Mapping[str, tzinfo]) -> Schedule:
    """Hold back reminders to customers for whom ``now`` is outside the send window (in their own zone)."""
    reasons: dict[int, str] = {}
    for item in schedule.due:
        zone = zones.get(_customer(item))
        theirs = window if zone is None else window.in_zone(zone)
        if theirs.is_open(now):
            continue
        opening = theirs.next_opening(now)
        when = f"; it opens next on {describe(opening)}" if opening else ""
        reasons[item.invoice.row] = f"outside the send window {window.text} ({theirs.zone}){when}"
    return hold_back(schedule, reasons, SKIP_SEND_WINDOW)


def describe(moment: datetime) -> str:
    """``Mon 2026-11-30 08:00 (America/Sao_Paulo)``."""
    return f"{DAYS[moment.weekday()].title()} {moment:%Y-%m-%d %H:%M} ({moment.tzinfo})"
