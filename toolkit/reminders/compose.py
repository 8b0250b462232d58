"""Reminder messages: one per customer, rendered from templates, written as ``.eml`` files.

The schedule (``toolkit.reminders.schedule``) says which invoices are due for which stage;
here they are grouped into one message per customer (and address), at the most
severe stage among them, rendered from Jinja2 templates (subject, plain text,
HTML) and built into a ``multipart/alternative`` email.

Safety rules, because every value comes from a spreadsheet anyone may have typed in:

* cell text is *data* handed to the templates, never a template itself;
* the HTML body escapes everything (autoescape), the subject is one line;
* the customer's name goes into the ``To`` header only as a display name, with
  line breaks and control characters removed (the email library quotes the rest),
  so no cell can add a header or a recipient;
* a message goes to that customer's one address (checked when the row was read)
  and the stage's cc/bcc from the manual, nobody else;
* ``.eml`` file names are made from a cleaned-up customer name: letters, digits and
  dashes only, inside the outbox folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
from babel.dates import format_date, get_date_format
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from toolkit.errors import ManualError, TemplateError, ToolkitError
from toolkit.manual import BillingManual, ReminderStage
from toolkit.money import CurrencyFormat
from toolkit.payments.ways import invoice_link, payment_context
from toolkit.policy.late_fees import LateCharges, LateFeePolicy
from toolkit.reminders.eml import AlternativeEmail, Attachment, new_boundary
from toolkit.reminders.schedule import DueReminder
from toolkit.rows.values import check_email
from toolkit.text import normalize_header, without_bidi_controls

LANGUAGES = ("en", "pt_BR")
TEMPLATE_PARTS = ("subject.txt", "txt", "html")
# Written by the tool into a day's outbox folder; anything else there is left alone.
EML_PATTERN = re.compile(r"^\d{3,}-[a-z0-9-]+\.eml$")  # 001-…, and 1000-… past 999 messages
SENT_FOLDER = "sent"


# --------------------------------------------------------------------------------------------
# Grouping


@dataclass
class Reminder:
    """One message to one customer: the invoices it covers, at the most severe stage among them."""

    customer: str
    email: str
    stage: ReminderStage
    stage_index: int
    items: list[DueReminder]

    @property
    def total(self) -> Decimal:
        return sum((item.balance for item in self.items), Decimal(0))

    @property
    def most_days_overdue(self) -> int:
        return max(item.days_past_due for item in self.items)


def group_by_customer(due: Iterable[DueReminder], stages: Sequence[ReminderStage]) -> list[Reminder]:
    """One reminder per customer and address, most severe first (then oldest debt, then name).

    Names that differ only in capitals, accents or punctuation are the same customer.
    A customer with two addresses on different invoices gets one message at each:
    a message never goes to an address its invoices do not name.
    """
    groups: dict[tuple[str, str], list[DueReminder]] = {}
    folded: dict[str, str] = {}  # each name folded once: a customer has many invoices
    for item in due:
        customer = item.invoice.customer or ""
        key = folded.get(customer)
        if key is None:
            key = folded[customer] = normalize_header(customer)
        groups.setdefault((key, item.email.casefold()), []).append(item)
    reminders = []
    for items in groups.values():
        items.sort(key=lambda d: (d.invoice.due_date or date.max, d.invoice.row))
        worst = max(item.stage_index for item in items)
        first = items[0]
        reminders.append(Reminder(first.invoice.customer or "", first.email, stages[worst], worst, items))
    reminders.sort(key=lambda r: (-r.stage_index, -r.most_days_overdue, folded[r.customer]))
    return reminders


# --------------------------------------------------------------------------------------------
# Formatting money and dates for the manual's locale


class Formatter:
    """Money and dates the way the manual's locale writes them (Babel).

    Every invoice line of every message shows three amounts and a date or two, so
    the locale's data is read once (``CurrencyFormat``) and each date is formatted once.
    """

    def __init__(self, locale: str, currency: str, date_style: str = "") -> None:
        self.locale = locale
        self.currency = currency
        self.date_style = date_style or _default_date_style(locale)
        self._money = CurrencyFormat(locale, currency)
        self._dates: dict[date, str] = {}

    def money(self, amount: Decimal) -> str:
        """``R$ 1.234,56`` for pt_BR/BRL, ``$1,234.56`` for en_US/USD (no-break space kept)."""
        return self._money.format(amount)

    def date(self, day: date) -> str:
        """``22/11/2026`` for pt_BR, ``Nov 22, 2026`` for en_US."""
        shown = self._dates.get(day)
        if shown is None:
            shown = self._dates[day] = format_date(day, self.date_style, locale=self.locale)
        return shown


def _default_date_style(locale: str) -> str:
    """The locale's short date when it shows the whole year (22/11/2026), else its medium one (Nov 22, 2026)."""
    pattern = get_date_format("short", locale=locale).pattern
    years = re.findall(r"y+", pattern)
    return "medium" if any(len(y) == 2 for y in years) else "short"


# --------------------------------------------------------------------------------------------
# Templates


def builtin_templates() -> Path:
    """The built-in templates: ``toolkit/templates`` in a wheel, ``templates/`` in a source checkout."""
    packaged = resources.files("toolkit").joinpath("templates")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates"


def copy_builtin_templates(destination: Path) -> list[Path]:
    """Copy the built-in templates into ``destination`` for a company to edit; never overwrites."""
    if destination.exists():
        raise ManualError(f"{destination}: already exists; not overwritten (edit it, or delete it first)")
    shutil.copytree(builtin_templates(), destination)
    return sorted(p for p in destination.rglob("*") if p.is_file())


def template_language(manual: BillingManual) -> str:
    """``[reminders] language``, or the one that fits the company locale."""
    chosen = str(manual.section("reminders").get("language", "")).strip()
    if chosen:
        if chosen not in LANGUAGES and not _company_folder(manual):
            raise ManualError(
                f"{manual.source}: [reminders] language {chosen!r} has no built-in templates "
                f"(built in: {', '.join(LANGUAGES)}); name a folder with your own in [reminders] templates"
            )
        return chosen
    return "pt_BR" if manual.locale.lower().startswith("pt") else "en"


def _company_folder(manual: BillingManual) -> Path | None:
    folder = str(manual.section("reminders").get("templates", "")).strip()
    if not folder:
        return None
    path = Path(folder).expanduser()
    if not path.is_absolute() and manual.path is not None:
        path = manual.path.parent / path
    return path


class Templates:
    """The reminder templates of one language: the company's own first, then the built-in ones.

    Each stage's ``template`` names three files: ``NAME.subject.txt``, ``NAME.txt`` and
    ``NAME.html``, looked for in ``<company folder>/<language>/``, ``<company folder>/``
    and the built-in ``templates/<language>/``. Files starting with ``_`` are pieces the
    others include (the invoice table, the closing lines): they can be overridden too.
    """

    def __init__(self, manual: BillingManual) -> None:
        self.language = template_language(manual)
        builtin = builtin_templates() / self.language
        folders: list[Path] = []
        company = _company_folder(manual)
        if company is not None:
            if not company.is_dir():
                raise ManualError(
                    f"{manual.source}: [reminders] templates: {company} is not a folder; "
                    "create it, or leave the setting empty to use the built-in templates"
                )
            folders += [company / self.language, company]
        if builtin.is_dir():
            folders.append(builtin)
        self.folders = [f for f in folders if f.is_dir()]
        # Sandboxed as well: even a company's own template cannot reach Python internals.
        self.env = ReminderEnvironment(
            loader=jinja2.FileSystemLoader([str(f) for f in self.folders]),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,  # read once per run: no need to look at the files' dates again for every message
        )
        self.env.filters["nl2br"] = _nl2br
        self.env.globals["text_table"] = text_table
        self._loaded: dict[str, jinja2.Template] = {}
        self._globals = dict(self.env.globals)

    def check(self, stages: Iterable[ReminderStage]) -> None:
        """Fail early, before anything is sent, when a stage's template is missing or malformed."""
        for stage in stages:
            for part in TEMPLATE_PARTS:
                self._get(f"{stage.template}.{part}")

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render one template; any mistake in it is a ``TemplateError`` naming the file and line."""
        template = self._loaded.get(name) or self._get(name)
        try:
            # What ``template.render(context)`` does, less its per-call copy of the globals
            # (a ChainMap, slow to copy): the invoice label is rendered once per invoice line.
            variables = {**self._globals, **context}
            return self.env.concat(template.root_render_func(template.new_context(variables, shared=True)))
        except Exception:
            pass  # rendered again below, the usual way: Jinja then names the template's file and line
        try:
            return template.render(context)
        except jinja2.TemplateError as exc:
            where = _template_location(exc, template.filename or name)
            raise TemplateError(f"{where}: {_jinja_message(exc)}; {_VARIABLES_HINT}") from None

    def as_function(self, name: str, params: Sequence[str]) -> Callable[..., str]:
        """Template ``name`` as a function of ``params`` (given in that order), rendered as a Jinja macro.

        A macro call costs a fraction of a template render, and the invoice label is
        rendered for every invoice line. Only a template that means the same as a macro
        body becomes one (no inheritance, includes, imports, or the names macros treat
        specially); any failure is left to ``render``, which gives the same text or
        reports the mistake with its file and line.
        """

        def by_render(*args: Any) -> str:
            return self.render(name, dict(zip(params, args, strict=True)))

        if name not in self._loaded:
            self._get(name)  # a missing or malformed template is reported as usual
        try:
            source, filename, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
            tree = self.env.parse(source, name, filename)
            if any(tree.find_all(_NOT_IN_A_MACRO)) or meta.find_undeclared_variables(tree) & _MACRO_NAMES:
                return by_render
            # On the template's first line, so that its line numbers stay the same.
            wrapped = f"{{% macro template_function({', '.join(params)}) %}}{source}{{% endmacro %}}"
            code = self.env.compile(wrapped, name, filename)
            module = jinja2.Template.from_code(self.env, code, self.env.make_globals(None)).module
            function = getattr(module, "template_function")  # noqa: B009 - a macro, not a known attribute
        except Exception:
            return by_render

        def call(*args: Any) -> str:
            try:
                return str(function(*args))
            except Exception:
                return by_render(*args)

        return call

    def _get(self, name: str) -> jinja2.Template:
        try:
            template = self._loaded[name] = self.env.get_template(name)
            return template
        except jinja2.TemplateNotFound as exc:
            looked = ", ".join(str(f) for f in self.folders) or str(builtin_templates() / self.language)
            missing = exc.name if exc.name != name else name
            raise TemplateError(f"{missing}: template not found (looked in {looked})") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.filename or name}:{exc.lineno}: {exc.message}") from None


_DICT_ATTRIBUTES = frozenset(dir(dict))
# What a template body cannot do, or does differently, inside a macro.
_NOT_IN_A_MACRO = (
    nodes.Extends,
    nodes.Block,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Macro,
    nodes.CallBlock,
)
_MACRO_NAMES = {"varargs", "kwargs", "caller"}


class ReminderEnvironment(SandboxedEnvironment):
    """The sandbox, with a quicker way to the same answer for ``invoice.label`` on a plain dict.

    Jinja looks ``x.name`` up as an attribute first and, for a dict, only finds the
    key after an ``AttributeError``; every cell of every invoice line paid for that
    exception. For a plain dict and a name that is not an attribute of dicts, the key is
    what Jinja returns anyway; everything else goes through the sandbox as before.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_VARIABLES_HINT = (
    "the variables a template can use are company, customer, stage, invoices, count, total, total_balance, "
    "late_fees, today, cc, broken_promise, more_count and more_total (see docs/reminders.md)"
)


def _jinja_message(exc: jinja2.TemplateError) -> str:
    message = exc.message or type(exc).__name__
    if isinstance(exc, jinja2.UndefinedError):
        return f"{message} (no such variable)"
    return message


def _template_location(exc: BaseException, filename: str) -> str:
    """``path:line`` of the innermost template frame in the traceback (Jinja maps it to the file)."""
    line = None
    where = filename
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code.co_filename
        if code.endswith((".txt", ".html")):
            where, line = code, tb.tb_lineno
        tb = tb.tb_next
    return f"{where}:{line}" if line else where


def _nl2br(value: Any) -> Markup:
    """Escape, then keep the line breaks of a multi-line setting (payment instructions) in HTML."""
    return Markup("<br>\n").join(escape(line) for line in str(value).splitlines())


def text_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Sequence[str]]) -> str:
    """A plain-text table for the plain-text templates.

    ``columns`` lists ``[header, field]`` or ``[header, field, "right"]`` (right-aligned,
    for amounts): ``{{ text_table(invoices, [["Invoice", "label"], ["Balance", "balance", "right"]]) }}``.
    """
    headers = [str(c[0]) for c in columns]
    fields = [str(c[1]) for c in columns]
    right = [len(c) > 2 and str(c[2]) == "right" for c in columns]
    cells = [[" ".join(str(row[f]).split()) for f in fields] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in cells)])


# --------------------------------------------------------------------------------------------
# The message


class Rendered(NamedTuple):
    """One reminder as its stage's templates render it, before it becomes an email."""

    subject: str  # on one line
    text: str
    html: str
    images: tuple[tuple[str, bytes], ...]  # the inline pictures (content id, PNG): a Pix code's
    cut: bool  # the list of invoices was cut at max_invoices_in_message: the statement goes with it


@dataclass
class PreparedMessage:
    """A reminder ready to go: the email, its envelope, and what it covers."""

    reminder: Reminder
    content: AlternativeEmail  # headers and bodies: the .eml is written from these
    recipients: list[str]  # envelope: the customer's address, then the stage's cc and bcc
    cc: list[str]
    bcc: list[str]
    file_name: str  # the .eml file name in the outbox
    path: Path | None = None  # where the .eml was written
    total_due: Decimal | None = None  # the message's total with late charges ([late_fees] on)
    _message: EmailMessage | None = field(default=None, init=False, repr=False)

    @property
    def message(self) -> EmailMessage:
        """The email as the standard library builds it: what is sent and shown (built when first asked for)."""
        if self._message is None:
            self._message = self.content.to_message()
        return self._message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class MessageBuilder:
    """Renders and builds the reminder messages for one run."""

    manual: BillingManual
    as_of: date
    sender: str  # the From header: "Company <billing@example.com>"
    templates: Templates = field(init=False)
    formatter: Formatter = field(init=False)
    now: Callable[[], datetime] = datetime.now
    charges: Mapping[int, LateCharges] = field(default_factory=dict)  # row -> late charges ([late_fees] on)
    # The files attached to a message whose invoices are cut at [reminders] max_invoices_in_message
    # (the customer's statement); None attaches nothing.
    attachments_for: Callable[[Reminder], Sequence[Attachment]] | None = None

    def __post_init__(self) -> None:
        self.templates = Templates(self.manual)
        self.templates.check(self.manual.reminder_stages)
        self._label = self.templates.as_function("_invoice_label.txt", ("number", "installment"))
        settings = self.manual.section("reminders")
        self.formatter = Formatter(self.manual.locale, self.manual.currency, str(settings.get("date_format", "")))
        self._nothing_paid = self.formatter.money(Decimal(0))
        self.max_invoices = int(settings.get("max_invoices_in_message", 25))
        company_email = str(self.manual.section("company").get("email", "")).strip()
        replies_elsewhere = company_email and company_email.casefold() != parseaddr(self.sender)[1].casefold()
        self._reply_to = company_email if replies_elsewhere else ""
        self._boundary = new_boundary()
        self._fees = LateFeePolicy.of(self.manual)
        # The same in every message of the run: formatted once.
        self._fine_percent = percent(self._fees.fine_percent, self.manual.locale, self._fees.max_fine_percent)
        self._interest_percent = percent(self._fees.interest_percent_per_month, self.manual.locale)
        self._msgid_domain = _domain(self.sender)
        self._company = company_context(self.manual)
        self._list_unsubscribe = unsubscribe_header(company_email or self.sender)
        self._payments = self.manual.section("payments")
        self._images: dict[int, tuple[tuple[str, bytes], ...]] = {}  # the inline pictures of a reminder's message
        for stage in self.manual.reminder_stages:
            for kind in ("cc", "bcc"):
                for address in getattr(stage, kind):
                    reason = check_email(address)
                    if reason:
                        raise ManualError(
                            f"{self.manual.source}: [[reminders.stages]] '{stage.name}' {kind} "
                            f"'{address}' is not an email address ({reason})"
                        )

    def context(self, reminder: Reminder) -> dict[str, Any]:
        """The variables the templates see. Every value from the sheet is plain data."""
        fmt = self.formatter
        invoices = []
        shown, rest = listed_items(reminder.items, self.max_invoices)
        for item in shown:
            inv = item.invoice
            installment = item.installment
            number = _one_line(inv.number or "")
            installment_context = (
                None
                if installment is None
                else {"of": _one_line(installment.of), "index": installment.index, "count": installment.count}
            )
            label = " ".join(self._label(number, installment_context).split())
            amount = fmt.money(inv.amount) if inv.amount is not None else ""
            # Most invoices chased are not paid at all: nothing paid, the balance is the amount.
            balance = amount if amount and item.balance == inv.amount else fmt.money(item.balance)
            invoices.append(
                {
                    "number": number,
                    "label": label,
                    "installment": installment_context,
                    "issue_date": fmt.date(inv.issue_date) if inv.issue_date else "",
                    "due_date": fmt.date(inv.due_date) if inv.due_date else "",
                    "amount": amount,
                    "paid": fmt.money(inv.paid) if inv.paid else self._nothing_paid,
                    "balance": balance,
                    "days_overdue": item.days_overdue,
                    "days_until_due": max(-item.days_past_due, 0),
                    "stage": item.stage.name,
                    "promised_date": fmt.date(inv.promised_date) if inv.promised_date else "",
                    "broken_promise": item.broken_promise is not None,
                    **self._charges_context(item.invoice.row, balance),
                    "pay_link": invoice_link(self._payments, inv.number or "", item.balance),
                    "boleto": _one_line(inv.boleto or ""),
                }
            )
        cc = list(reminder.stage.cc)
        charged = sum((self._charged(item) for item in reminder.items), Decimal(0))
        return {
            "company": dict(self._company),  # a copy: a template cannot change the next message's
            "customer": _one_line(reminder.customer),
            "stage": {
                "name": reminder.stage.name,
                "template": reminder.stage.template,
                "offset_days": reminder.stage.offset_days,
            },
            "invoices": invoices,
            "count": len(reminder.items),
            "total": fmt.money(reminder.total + charged),
            "total_balance": fmt.money(reminder.total),
            "late_fees": self._fees_context(charged),
            # A long list is cut: the rest counted and summed (with their charges), and the statement attached.
            "more_count": len(rest),
            "more_total": fmt.money(sum((item.balance + self._charged(item) for item in rest), Decimal(0))),
            "today": fmt.date(self.as_of),
            "cc": cc,
            "broken_promise": any(i["broken_promise"] for i in invoices),
            "payment": self._payment(reminder),
        }

    def _charged(self, item: DueReminder) -> Decimal:
        """The late charges on one invoice of a message (0 without [late_fees])."""
        charges = self.charges.get(item.invoice.row) if self.charges else None
        return charges.charges if charges is not None else Decimal(0)

    def _charges_context(self, row: int, balance: str) -> dict[str, Any]:
        """An invoice line's late charges: what the templates show in the Amount due column and the calculation.

        ``balance`` is the line's balance as shown: the amount due when nothing is charged.
        """
        charges = self.charges.get(row) if self.charges else None
        if charges is None or not charges.charges:
            return {"amount_due": balance, "charged": False, "fine": "", "interest": "", "flat_fee": "", "days_late": 0}
        fmt = self.formatter
        return {
            "amount_due": fmt.money(charges.amount_due),
            "charged": True,
            "fine": fmt.money(charges.fine) if charges.fine else "",
            "interest": fmt.money(charges.interest) if charges.interest else "",
            "flat_fee": fmt.money(charges.flat_fee) if charges.flat_fee else "",
            "days_late": charges.days_late,
        }

    def _fees_context(self, charged: Decimal) -> dict[str, Any]:
        """The message's late-fee terms, for the sentence that writes out the calculation once."""
        return {
            "charged": bool(charged),
            "total": self.formatter.money(charged),
            "fine_percent": self._fine_percent,
            "interest_percent": self._interest_percent,
        }

    def _payment(self, reminder: Reminder) -> dict[str, Any]:
        """The ways to pay the whole message (``[payments]``): a link and a Pix code, each or neither."""
        payment, images = payment_context(
            self._payments,
            str(self.manual.section("company").get("name", "")),
            reminder.customer,
            [item.invoice.number or "" for item in reminder.items],
            reminder.total,
        )
        self._images[id(reminder)] = tuple((image.content_id, image.png) for image in images)
        return payment

    def build(self, reminder: Reminder, number: int) -> PreparedMessage:
        """Render the three templates of the reminder's stage and put the email together."""
        return self.assemble(reminder, number, self.render(reminder))

    def render(self, reminder: Reminder) -> Rendered:
        """What the templates make of one reminder: its subject, bodies and pictures (plain data, picklable)."""
        context = self.context(reminder)
        name = reminder.stage.template
        subject = " ".join(self.templates.render(f"{name}.subject.txt", context).split())
        text = self.templates.render(f"{name}.txt", context)
        html = self.templates.render(f"{name}.html", context)
        return Rendered(subject, text, html, self._images.pop(id(reminder), ()), bool(context["more_count"]))

    def assemble(self, reminder: Reminder, number: int, rendered: Rendered) -> PreparedMessage:
        """The email of a rendered reminder, numbered ``number`` in the run (its headers, envelope and file name)."""
        stage = reminder.stage
        attachments: tuple[Attachment, ...] = ()
        if rendered.cut and self.attachments_for is not None:
            attachments = tuple(self.attachments_for(reminder))
        content = AlternativeEmail(
            sender=self.sender,
            to_name=display_name(reminder.customer),
            to_address=reminder.email,
            cc=tuple(stage.cc),
            bcc=tuple(stage.bcc),
            reply_to=self._reply_to,
            subject=rendered.subject,
            date=format_datetime(self.now().astimezone()),
            message_id=make_msgid("reminder", domain=self._msgid_domain),
            language=self.templates.language.replace("_", "-"),
            text=_crlf_free(rendered.text),
            html=_crlf_free(rendered.html),
            boundary=self._boundary,
            list_unsubscribe=self._list_unsubscribe,
            images=rendered.images,
            attachments=attachments,
        )
        recipients = [reminder.email, *stage.cc, *stage.bcc]
        file_name = eml_file_name(number, stage.name, reminder.customer)
        prepared = PreparedMessage(reminder, content, recipients, list(stage.cc), list(stage.bcc), file_name)
        if self.charges:
            prepared.total_due = reminder.total + sum(
                (c.charges for i in reminder.items if (c := self.charges.get(i.invoice.row))), Decimal(0)
            )
        return prepared


def company_context(manual: BillingManual) -> dict[str, str]:
    """The ``company`` the templates see: contacts, how to pay, and who is collecting (name, address, tax id)."""
    company = manual.section("company")
    names = ("name", "email", "phone", "payment_instructions", "dispute_contact", "address", "tax_id")
    context = {name: str(company.get(name, "")) for name in names}
    context["legal_name"] = str(company.get("legal_name", "")).strip() or context["name"]
    return context


def percent(value: Decimal, locale: str, cap: Decimal = Decimal(0)) -> str:
    """``2 %`` or ``1,5 %``: a percentage as the locale writes the number (capped at ``cap`` when set)."""
    from babel.numbers import format_decimal

    shown = min(value, cap) if cap > 0 else value
    return f"{format_decimal(shown.normalize(), locale=locale)} %"


def unsubscribe_header(company_email: str) -> str:
    """``List-Unsubscribe: <mailto:billing@example.com?subject=unsubscribe>``: a reader's one-click way to opt out."""
    address = parseaddr(company_email)[1]
    return f"<mailto:{address}?subject=unsubscribe>" if "@" in address else ""


def listed_items(items: Sequence[DueReminder], limit: int) -> tuple[list[DueReminder], list[DueReminder]]:
    """The invoices a message lists (at most ``limit``, the most overdue, in due-date order) and the rest."""
    if len(items) <= limit:
        return list(items), []
    ranked = sorted(items, key=lambda d: (-d.days_past_due, d.invoice.row))
    shown = {id(item) for item in ranked[:limit]}
    return [i for i in items if id(i) in shown], [i for i in items if id(i) not in shown]


def display_name(name: str) -> str:
    """A customer name fit for a ``To`` display name: one line, no control characters, no bidi overrides."""
    return _one_line(without_bidi_controls(name))[:120]


def _one_line(text: str) -> str:
    if text.isprintable():  # no control characters or line separators: only spaces to tidy
        return " ".join(text.split())
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    return " ".join(cleaned.split())


def _crlf_free(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def sender_address(manual: BillingManual, env: Mapping[str, str] = os.environ) -> str:
    """The From header: ``RECEIVABLES_FROM``, else ``[smtp] from``, else the company email, with the company name."""
    from toolkit.reminders.smtp import ENV_FROM

    company = manual.section("company")
    chosen = env.get(ENV_FROM, "").strip() or str(manual.section("smtp").get("from", "")).strip()
    chosen = chosen or str(company.get("email", "")).strip()
    name, address = parseaddr(chosen)
    if "@" not in address:
        raise ManualError(
            f"{manual.source}: no sender address for reminders; set [company] email or [smtp] from (or {ENV_FROM})"
        )
    return formataddr((name or _one_line(str(company.get("name", ""))), address))


# --------------------------------------------------------------------------------------------
# The outbox


def eml_file_name(number: int, stage: str, customer: str) -> str:
    """``003-final-northwind-traders.eml``: only letters, digits and dashes, whatever the name holds."""
    return f"{number:03d}-{_slug(stage, 20)}-{_slug(customer, 50)}.eml"


def _slug(text: str, limit: int) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:limit].strip("-")
    return slug or "x"


def outbox_folder(root: Path, as_of: date) -> Path:
    """The folder of one day's messages: ``outbox/2026-11-22``."""
    return root / as_of.isoformat()


def write_outbox(messages: Sequence[PreparedMessage], folder: Path) -> None:
    """Write each message as an ``.eml`` file into ``folder``, replacing an earlier preview of the day.

    Only files this tool names (``NNN-name.eml``) are replaced or removed; the ``sent``
    subfolder, where sent messages are moved, is left alone.
    """
    try:
        paths = replace_previews(folder, EML_PATTERN, [(m.file_name, m.content.to_bytes) for m in messages])
    except OSError as exc:
        raise ToolkitError(
            f"{folder}: cannot write the reminder previews ({exc.strerror or exc}); "
            "choose a folder that can take them with --outbox FOLDER"
        ) from None
    for prepared, path in zip(messages, paths, strict=True):
        prepared.path = path


def replace_previews(
    folder: Path, pattern: re.Pattern[str], files: Sequence[tuple[str, Callable[[], bytes]]]
) -> list[Path]:
    """Write ``files`` (a name, and what makes its bytes) into ``folder``, in place of an earlier preview's.

    The files of the earlier preview (their names match ``pattern``) that no new one
    replaces are removed first. One the new preview names again is written over, which
    costs a file system half what removing it and creating it anew does (a day's previews
    keep their names from one run to the next); but never through a link, which is removed
    instead, nor into a file with other hard links (a backup's, say) or one that cannot be
    written: those are replaced by a new file. Raises ``OSError``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names = [_inside(folder, name).name for name, _ in files]
    taken = set(names)
    with os.scandir(folder) as entries:
        for entry in entries:
            if pattern.match(entry.name) and (
                entry.is_symlink() or (entry.name not in taken and entry.is_file(follow_symlinks=False))
            ):
                os.unlink(entry.path)
    paths = []
    for name, (_, make) in zip(names, files, strict=True):
        path = folder / name
        _write_over(path, make())
        paths.append(path)
    return paths


_WRITE = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _write_over(path: Path, data: bytes) -> None:
    """``path.write_bytes(data)`` for a file this tool owns: written over, or made anew when shared or read-only."""
    try:
        fd = os.open(path, _WRITE, 0o666)
    except PermissionError:
        fd = -1
    if fd >= 0 and os.fstat(fd).st_nlink > 1:  # another name for the same file, outside the tool's reach
        os.close(fd)
        fd = -1
    if fd < 0:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        fd = os.open(path, _WRITE | os.O_EXCL, 0o666)
    try:
        # Over the old bytes, then cut to the new length: a file system that frees a file's blocks
        # on truncating and takes new ones on writing (as ext4 does) works ten times as long.
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
    except OSError:
        with contextlib.suppress(OSError):  # no file of old and new bytes mixed is left behind
            os.unlink(path)
        raise
    finally:
        os.close(fd)


def move_to_sent(prepared: PreparedMessage, folder: Path) -> Path | None:
    """Move a sent message's ``.eml`` into ``folder/sent`` (a new name if one is taken).

    Returns the new path, or None when there is no file or it cannot be moved (the
    file then stays in the outbox; the journal is what counts).
    """
    if prepared.path is None or not prepared.path.exists():
        return None
    sent = folder / SENT_FOLDER
    try:
        sent.mkdir(exist_ok=True)
        stem, suffix = prepared.path.stem, prepared.path.suffix
        target = _inside(sent, prepared.path.name)
        counter = 2
        while target.exists():
            target = _inside(sent, f"{stem}-{counter}{suffix}")
            counter += 1
        prepared.path.replace(target)
    except (OSError, ToolkitError):
        return None
    prepared.path = target
    return target


def _inside(folder: Path, name: str) -> Path:
    target = folder / name
    if target.parent != folder or os.sep in name or (os.altsep and os.altsep in name) or name.startswith("."):
        raise ToolkitError(f"{folder}: refused to write {name!r} (not a plain file name)")
    return target


def eml_bytes(prepared: PreparedMessage) -> bytes:
    """The message as an ``.eml`` file (Bcc kept, so the preview shows it): the bytes the email library writes."""
    return prepared.content.to_bytes()


def message_for_terminal(msg: EmailMessage, *, html: bool = False) -> str:
    """The headers a reader sees, then the plain-text (or HTML) body, decoded."""
    lines = []
    for header in ("From", "To", "Cc", "Bcc", "Reply-To", "Subject"):
        value = msg.get(header)
        if value is not None:
            lines.append(f"{header}: {value}")
    part = msg.get_body(preferencelist=("html",) if html else ("plain",))
    body = part.get_content() if isinstance(part, EmailMessage) else ""
    return "\n".join(lines) + "\n\n" + body.rstrip("\n")
