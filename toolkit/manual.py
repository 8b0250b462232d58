"""The billing manual: the company's collection and credit policy, read from TOML.

The commented starter file shipped with the package (``billing-manual.toml`` in
this folder) is both what ``receivables init`` writes and the schema: every
setting it holds is a setting the tool knows, with its default value and type.
A user's manual is checked against it key by key, so a typo is an error that
names the file and the key instead of a setting silently ignored.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from toolkit.errors import ManualError
from toolkit.text import normalize_header

MANUAL_FILENAME = "billing-manual.toml"

REQUIRED_FIELDS = ("invoice", "customer", "due_date", "amount")

# Tables whose keys are chosen by the user (customer names), not by the schema.
_FREE_TABLES = {("credit_limits",)}
_STAGE_KEYS = {
    "name": str,
    "offset_days": int,
    "template": str,
    "cc": list,
    "bcc": list,
}
_SECURITY = ("ssl", "starttls", "none")
# Payer grades of the report, best first; [report] grade_a .. grade_c hold the limits, D is the rest.
REPORT_GRADES = ("A", "B", "C", "D")
_DATE_TOKENS = re.compile(r"DD|MM|YYYY|YY")


def starter_text() -> str:
    """The commented starter manual, as ``receivables init`` writes it."""
    return resources.files("toolkit").joinpath(MANUAL_FILENAME).read_text(encoding="utf-8")


def _defaults() -> dict[str, Any]:
    return tomllib.loads(starter_text())


@dataclass(frozen=True)
class ReminderStage:
    """One step of the reminder schedule: sent ``offset_days`` after the due date."""

    name: str
    offset_days: int
    template: str
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgingBuckets:
    """Days-overdue buckets; ``bounds`` (30, 60, 90) gives 1-30, 31-60, 61-90, 90+."""

    bounds: tuple[int, ...]

    @functools.cached_property
    def labels(self) -> list[str]:
        """The bucket labels in order, oldest last."""
        labels, low = [], 1
        for bound in self.bounds:
            labels.append(f"{low}-{bound}")
            low = bound + 1
        labels.append(f"{self.bounds[-1]}+")
        return labels

    def label_for(self, days_overdue: int) -> str:
        """The bucket a positive number of days overdue falls in."""
        for label, bound in zip(self.labels, self.bounds, strict=False):
            if days_overdue <= bound:
                return label
        return self.labels[-1]


@dataclass(frozen=True)
class BillingManual:
    """The parsed billing manual. ``settings`` holds every table as read, defaults filled in."""

    settings: dict[str, Any]
    source: str = "built-in defaults"
    path: Path | None = None
    column_aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # -- convenient views on the settings -------------------------------------------------

    def section(self, name: str) -> dict[str, Any]:
        """One table of the manual, e.g. ``manual.section("smtp")``."""
        value = self.settings.get(name, {})
        return value if isinstance(value, dict) else {}

    @property
    def sheet(self) -> str:
        return str(self.settings["workbook"]["sheet"])

    @property
    def header_search_rows(self) -> int:
        return int(self.settings["workbook"]["header_search_rows"])

    @property
    def date_format(self) -> str:
        """The text-date format as a ``strptime`` pattern."""
        return to_strptime(self.settings["workbook"]["date_format"])

    @property
    def output_columns(self) -> dict[str, str]:
        return dict(self.settings["output_columns"])

    @property
    def statuses(self) -> dict[str, str]:
        return dict(self.settings["statuses"])

    @property
    def policy(self) -> dict[str, Any]:
        return dict(self.settings["policy"])

    @functools.cached_property
    def aging(self) -> AgingBuckets:
        return AgingBuckets(tuple(int(b) for b in self.settings["aging"]["buckets"]))

    @property
    def hold_values(self) -> frozenset[str]:
        return frozenset(normalize_header(v) for v in self.settings["hold"]["values"])

    @property
    def credit_limits(self) -> dict[str, float]:
        return {str(k): float(v) for k, v in self.settings.get("credit_limits", {}).items()}

    @property
    def locale(self) -> str:
        return str(self.settings["company"]["locale"])

    @property
    def currency(self) -> str:
        return str(self.settings["company"]["currency"])

    @property
    def reminder_stages(self) -> list[ReminderStage]:
        stages = self.settings["reminders"].get("stages", [])
        return [
            ReminderStage(
                name=s["name"],
                offset_days=int(s["offset_days"]),
                template=s.get("template", s["name"]),
                cc=tuple(s.get("cc", ())),
                bcc=tuple(s.get("bcc", ())),
            )
            for s in stages
        ]


def to_strptime(fmt: str) -> str:
    """Turn ``DD/MM/YYYY`` into ``%d/%m/%Y``."""
    mapping = {"DD": "%d", "MM": "%m", "YYYY": "%Y", "YY": "%y"}
    return _DATE_TOKENS.sub(lambda m: mapping[m.group(0)], fmt)


def find_manual(workbook: Path | None) -> Path | None:
    """The manual next to the workbook, if there is one."""
    if workbook is None:
        return None
    candidate = workbook.parent / MANUAL_FILENAME
    return candidate if candidate.is_file() else None


def load_manual(path: Path | None = None) -> BillingManual:
    """Read and check a billing manual; ``None`` gives the built-in defaults."""
    defaults = _defaults()
    if path is None:
        return _build(defaults, "built-in defaults", None)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManualError(f"{name}: billing manual not found (run 'receivables init' to write one)") from None
    except UnicodeDecodeError:
        raise ManualError(f"{name}: not a text file; save the billing manual as UTF-8 text") from None
    except OSError as exc:
        raise ManualError(f"{name}: cannot read the billing manual ({exc.strerror})") from None
    try:
        user = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManualError(f"{name}: not valid TOML: {exc}") from None
    merged = _merge(defaults, user, name, ())
    named = user.get("columns", {})
    return _build(merged, name, path, explicit=tuple(named) if isinstance(named, dict) else ())


def _type_name(value: Any) -> str:
    return {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "text in quotes",
        list: "a list in [brackets]",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _key_name(path: tuple[str, ...], key: str) -> str:
    return f"[{'.'.join(path)}] {key}" if path else key


def _merge(default: dict[str, Any], user: dict[str, Any], name: str, path: tuple[str, ...]) -> dict[str, Any]:
    merged = dict(default)
    for key, value in user.items():
        where = f"{name}: {_key_name(path, key)}"
        if path in _FREE_TABLES:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ManualError(f"{where} must be a number (a credit limit), got {value!r}")
            _refuse_not_finite(value, where)
            if value < 0:
                raise ManualError(f"{where} must not be negative, got {value}")
            merged[key] = value
            continue
        if path == ("smtp",) and key == "password":
            raise ManualError(
                f"{where}: a password is never read from the manual; "
                "set RECEIVABLES_SMTP_PASSWORD or store it in the system keyring"
            )
        if key not in default:
            allowed = sorted(default)
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ManualError(f"{where}: unknown setting (allowed here: {', '.join(allowed)}){hint}")
        expected = default[key]
        if (*path, key) == ("reminders", "stages"):
            merged[key] = _check_stages(value, where)
        elif isinstance(expected, dict):
            if not isinstance(value, dict):
                raise ManualError(f"{where} must be a table [{'.'.join((*path, key))}]")
            merged[key] = _merge(expected, value, name, (*path, key))
        else:
            merged[key] = _check_type(value, expected, where)
    return merged


def _check_type(value: Any, expected: Any, where: str) -> Any:
    if isinstance(expected, bool):
        ok = isinstance(value, bool)
    elif isinstance(expected, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(expected, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(expected, list):
        ok = isinstance(value, list)
        if ok and expected:
            item_type = type(expected[0])
            bad = [v for v in value if not isinstance(v, item_type) or isinstance(v, bool)]
            if bad:
                raise ManualError(f"{where} must be a list of {_type_name(expected[0])}, got {bad[0]!r}")
    else:
        ok = isinstance(value, type(expected))
    if not ok:
        raise ManualError(f"{where} must be {_type_name(expected)}, got {value!r}")
    for number in value if isinstance(value, list) else [value]:
        _refuse_not_finite(number, where)
    return value


def _refuse_not_finite(value: Any, where: str) -> None:
    """TOML allows nan and inf, which no setting means: a tolerance or a limit must be a real number."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ManualError(f"{where} must be a finite number, got {value!r}; write a number such as 0.01")


def _check_stages(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        raise ManualError(f"{where} must be a list of [[reminders.stages]] tables")
    stages = []
    for number, stage in enumerate(value, start=1):
        here = f"{where} #{number}"
        for key, item in stage.items():
            if key not in _STAGE_KEYS:
                raise ManualError(f"{here}: unknown setting '{key}' (allowed: {', '.join(_STAGE_KEYS)})")
            expected_type = _STAGE_KEYS[key]
            if not isinstance(item, expected_type) or isinstance(item, bool):
                raise ManualError(f"{here}: {key} must be {_type_name(expected_type())}, got {item!r}")
            _refuse_not_finite(item, f"{here}: {key}")
        for key in ("name", "offset_days"):
            if key not in stage:
                raise ManualError(f"{here}: missing '{key}'")
        stages.append(dict(stage))
    offsets = [s["offset_days"] for s in stages]
    if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
        raise ManualError(f"{where}: stages must be listed from the earliest offset_days to the latest, each once")
    names = [s["name"] for s in stages]
    if len(set(names)) != len(names):
        raise ManualError(f"{where}: two stages share the name '{names[0]}'; give each stage its own name")
    return stages


def _build(settings: dict[str, Any], source: str, path: Path | None, explicit: tuple[str, ...] = ()) -> BillingManual:
    _check_values(settings, source)
    aliases: dict[str, tuple[str, ...]] = {}
    # The fields the manual names explicitly come first: a header it gives for one field
    # ("InvoiceDate" for due_date) wins over a default alias of another ("Invoice Date", issue_date).
    columns = settings["columns"]
    for key in (*[k for k in explicit if k in columns], *columns):
        aliases.setdefault(key, tuple(columns[key]))
    return BillingManual(settings=settings, source=source, path=path, column_aliases=aliases)


def _check_values(settings: dict[str, Any], source: str) -> None:
    """Checks of meaning, beyond types: the things a type cannot say is impossible."""

    def fail(key: str, message: str) -> None:
        raise ManualError(f"{source}: {key} {message}")

    workbook = settings["workbook"]
    if workbook["header_search_rows"] < 1:
        fail("[workbook] header_search_rows", "must be at least 1")
    fmt = workbook["date_format"]
    tokens = _DATE_TOKENS.findall(fmt)
    if sorted(t[0] for t in tokens) != ["D", "M", "Y"]:
        fail("[workbook] date_format", f'must hold DD, MM and YYYY (or YY) once each, like "DD/MM/YYYY"; got {fmt!r}')
    try:
        date(2026, 1, 31).strftime(to_strptime(fmt))
    except ValueError:
        fail("[workbook] date_format", f"is not a date format: {fmt!r}")
    for column, names in settings["columns"].items():
        if column in REQUIRED_FIELDS and not names:
            fail(f"[columns] {column}", "needs at least one header name (it is a required column)")
    outputs = list(settings["output_columns"].values())
    if any(not str(name).strip() for name in outputs):
        fail("[output_columns]", "names must not be empty")
    normalized = [normalize_header(n) for n in outputs]
    if len(set(normalized)) != len(normalized):
        fail("[output_columns]", "must all be different")
    known = {normalize_header(a) for names in settings["columns"].values() for a in names}
    for key, name in settings["output_columns"].items():
        if normalize_header(name) in known:
            fail(f"[output_columns] {key}", f"= {name!r} is also the name of an input column; choose another name")
    buckets = settings["aging"]["buckets"]
    if not buckets or any(b < 1 for b in buckets) or buckets != sorted(set(buckets)):
        fail(
            "[aging] buckets",
            f"must be whole numbers of days from smallest to largest, like [30, 60, 90]; got {buckets}",
        )
    policy = settings["policy"]
    if policy["max_terms_days"] < 0:
        fail("[policy] max_terms_days", "must not be negative")
    if policy["balance_tolerance"] < 0:
        fail("[policy] balance_tolerance", "must not be negative")
    if policy["default_credit_limit"] < 0:
        fail("[policy] default_credit_limit", "must not be negative (0 means no limit)")
    reminders = settings["reminders"]
    if reminders["messages_per_minute"] < 0:
        fail("[reminders] messages_per_minute", "must not be negative (0 means no limit)")
    smtp = settings["smtp"]
    if smtp["security"] not in _SECURITY:
        fail("[smtp] security", f"{smtp['security']!r} is not one of {', '.join(_SECURITY)}")
    if not 0 <= smtp["port"] <= 65535:
        fail("[smtp] port", f"{smtp['port']} is not a port number (1-65535, or 0 for the usual one)")
    _check_report(settings["report"], fail)
    _check_collection_policy(settings, source, fail)
    _check_payments(settings, source, fail)
    _check_credit_policy(settings["credit_policy"], fail)
    _check_statements(settings, fail)
    try:
        from babel import Locale, UnknownLocaleError

        Locale.parse(settings["company"]["locale"])
    except (ValueError, UnknownLocaleError):
        fail("[company] locale", f"{settings['company']['locale']!r} is not a locale like en_US or pt_BR")


def _check_report(report: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    """The [report] settings: periods and counts positive, grade limits loosening from A to C."""
    periods = report["dso_periods"]
    if not periods or any(p < 1 for p in periods):
        fail("[report] dso_periods", f"must be whole numbers of days, at least 1, like [30, 90]; got {periods}")
    if report["top_debtors"] < 1:
        fail("[report] top_debtors", "must be at least 1")
    if report["min_paid_invoices"] < 1:
        fail("[report] min_paid_invoices", "must be at least 1")
    if report["credit_use_warning"] <= 0:
        fail("[report] credit_use_warning", "must be more than 0 (0.8 means 80 % of the credit limit)")
    previous: dict[str, float] = {"max_avg_days_late": 0.0, "max_share_late": 0.0}
    for grade in REPORT_GRADES[:-1]:
        key = f"grade_{grade.lower()}"
        limits = report[key]
        if limits["max_avg_days_late"] < 0:
            fail(f"[report] {key}", "max_avg_days_late must not be negative")
        if not 0 <= limits["max_share_late"] <= 1:
            fail(
                f"[report] {key}",
                f"max_share_late must be between 0 and 1 (0.25 = 25 %); got {limits['max_share_late']}",
            )
        for limit in ("max_avg_days_late", "max_share_late"):
            if limits[limit] < previous[limit]:
                fail(f"[report] {key}", f"{limit} must not be stricter than the grade before it")
            previous[limit] = limits[limit]
    for grade in report["no_credit_grades"]:
        if grade not in REPORT_GRADES:
            fail("[report] no_credit_grades", f"{grade!r} is not a grade ({', '.join(REPORT_GRADES)})")


def _check_collection_policy(settings: dict[str, Any], source: str, fail: Callable[[str, str], None]) -> None:
    """[late_fees], the contact limits and who is collecting ([company] legal_name, address, tax_id)."""
    from toolkit.policy.checks import check_company, check_contact_limits, check_late_fees

    check_late_fees(settings["late_fees"], fail)
    check_contact_limits(settings, source, fail)
    check_company(settings["company"], fail)


def _check_payments(settings: dict[str, Any], source: str, fail: Callable[[str, str], None]) -> None:
    """The [payments] settings: a threshold in 0-100, link templates with known fields, a Pix key that makes a code."""
    from toolkit.payments.pix import check_pix_settings
    from toolkit.payments.ways import INVOICE_LINK_FIELDS, MESSAGE_LINK_FIELDS, check_link_template

    payments = settings["payments"]
    if not 0 <= payments["name_match_threshold"] <= 100:
        fail("[payments] name_match_threshold", f"must be between 0 and 100; got {payments['name_match_threshold']}")
    check_link_template(payments["link"], INVOICE_LINK_FIELDS, f"{source}: [payments] link")
    check_link_template(payments["message_link"], MESSAGE_LINK_FIELDS, f"{source}: [payments] message_link")
    check_pix_settings(payments, settings["company"], source)
    if payments["csv"]["decimal"] not in (".", ","):
        fail("[payments.csv] decimal", f'must be "." or ","; got {payments["csv"]["decimal"]!r}')
    if len(payments["csv"]["delimiter"]) != 1:
        fail(
            "[payments.csv] delimiter", f'must be one character, like "," or ";"; got {payments["csv"]["delimiter"]!r}'
        )


# The decisions of ``receivables credit``, from the most lenient to the strictest.
CREDIT_DECISIONS = ("approve", "approve with conditions", "refer", "decline")
CREDIT_RULE_DECISIONS = (
    "first_order_above_limit",
    "over_limit",
    "oldest_bucket",
    "broken_promises",
    "on_hold",
    "grade_a",
    "grade_b",
    "grade_c",
    "grade_d",
    "ungraded",
)


def _check_credit_policy(policy: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    """The [credit_policy] settings: amounts not negative, every decision one of the four."""
    for key in ("review_above", "first_order_limit", "oldest_bucket_tolerance"):
        if policy[key] < 0:
            fail(f"[credit_policy] {key}", "must not be negative")
    for key in ("broken_promise_days", "max_broken_promises", "max_on_hold"):
        if policy[key] < 0:
            fail(f"[credit_policy] {key}", "must not be negative")
    for key in CREDIT_RULE_DECISIONS:
        if policy[key] not in CREDIT_DECISIONS:
            choices = ", ".join(f'"{d}"' for d in CREDIT_DECISIONS)
            fail(f"[credit_policy] {key}", f"= {policy[key]!r} is not a decision (one of {choices})")


def _check_statements(settings: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    """[statements] and the reminders' invoice cap: days and counts in range."""
    statements = settings["statements"]
    if statements["payments_days"] < 0:
        fail("[statements] payments_days", "must not be negative")
    if not 1 <= statements["day_of_month"] <= 28:
        fail(
            "[statements] day_of_month",
            f"must be a day from 1 to 28 (every month has it); got {statements['day_of_month']}",
        )
    if settings["reminders"]["max_invoices_in_message"] < 1:
        fail("[reminders] max_invoices_in_message", "must be at least 1")
