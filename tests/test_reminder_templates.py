"""Rendering the reminder templates the quick way gives what Jinja's own render gives, and keeps the sandbox."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import SandboxedEnvironment

from tests.conftest import AS_OF
from tests.reminder_kit import MANUAL, write_manual
from toolkit.errors import TemplateError
from toolkit.manual import load_manual
from toolkit.reminders.compose import TEMPLATE_PARTS, MessageBuilder, Reminder, Templates
from toolkit.reminders.schedule import DueReminder, Installment
from toolkit.rows.invoices import Invoice


def builder(folder: Path, language: str) -> MessageBuilder:
    manual = write_manual(folder, text=MANUAL.replace("[reminders]", f'[reminders]\nlanguage = "{language}"'))
    return MessageBuilder(load_manual(manual), AS_OF, "Acme Supplies Ltd <billing@acme.example>")


def reminder(stage_index: int, builder: MessageBuilder, count: int) -> Reminder:
    """``count`` invoices of one customer at one stage, one an installment, one with a broken promise."""
    stage = builder.manual.reminder_stages[stage_index]
    items = []
    for i in range(count):
        due = AS_OF - timedelta(days=stage.offset_days + i)
        invoice = Invoice(
            row=5 + i,
            number="X-0" if i == 1 else f"INV-{i}",
            customer="Ação & <Co> {{ x }}",
            email="ap@acao.example",
            issue_date=due - timedelta(days=30),
            due_date=due,
            amount=Decimal("1234.5") * (i + 1),
            paid=Decimal("100") * i,
            promised_date=AS_OF - timedelta(days=1) if i == 2 else None,
        )
        items.append(
            DueReminder(
                invoice=invoice,
                key=invoice.number or "",
                stage=stage,
                stage_index=stage_index,
                days_past_due=(AS_OF - due).days,
                balance=(invoice.amount or Decimal(0)) - (invoice.paid or Decimal(0)),
                email="ap@acao.example",
                installment=Installment("X-0", 1, 2) if i == 1 else None,
                broken_promise=AS_OF - timedelta(days=1) if i == 2 else None,
            )
        )
    return Reminder(items[0].invoice.customer or "", "ap@acao.example", stage, stage_index, items)


@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_every_template_renders_as_jinja_renders_it(language: str, tmp_path: Path) -> None:
    """Every stage, one invoice or several, text, HTML and subject, invoice labels too: Jinja's own output."""
    built = builder(tmp_path, language)
    templates = built.templates
    for index, stage in enumerate(built.manual.reminder_stages):
        for count in (1, 3):
            context = built.context(reminder(index, built, count))
            for part in TEMPLATE_PARTS:
                name = f"{stage.template}.{part}"
                assert templates.render(name, context) == templates.env.get_template(name).render(context), name
            for invoice in context["invoices"]:
                label = {"number": invoice["number"], "installment": invoice["installment"]}
                expected = templates.env.get_template("_invoice_label.txt").render(label)
                assert invoice["label"] == " ".join(expected.split())


EXPRESSIONS = [
    "{{ inv.label }}",
    "{{ inv.missing }}",
    "{{ inv.items }}",
    "{{ inv.keys() | list }}",
    "{{ inv.get('label') }}",
    "{{ inv.__class__ }}",
    "{{ inv.__class__.__mro__ }}",
    "{{ inv._private }}",
    "{{ company.name.upper() }}",
    "{{ company.name.__class__.__subclasses__() }}",
    "{{ nested.inner.deep }}",
    "{{ nested['inner'].deep }}",
    "{{ text_table([inv], [['Invoice', 'label']]) }}",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_attribute_lookups_answer_as_the_plain_sandbox_does(expression: str, tmp_path: Path) -> None:
    """Keys, dict methods, missing names, dunder and private names: the same output or the same refusal."""
    context: dict[str, Any] = {
        "inv": {"label": "INV-1", "items": "a key named like a method", "_private": "hidden?"},
        "company": {"name": "Acme"},
        "nested": {"inner": {"deep": date(2026, 11, 20)}},
    }
    ours = Templates(load_manual(write_manual(tmp_path))).env
    plain = SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    plain.globals.update(ours.globals)

    def outcome(env: SandboxedEnvironment) -> str:
        try:
            return env.from_string(expression).render(context)
        except jinja2.TemplateError as exc:
            return f"{type(exc).__name__}: {exc}"

    assert outcome(ours) == outcome(plain)


def test_a_mistake_found_while_rendering_names_the_file_and_line(tmp_path: Path) -> None:
    """The quick render fails, the usual one reports it: TemplateError with the template's path and line."""
    own = tmp_path / "own"
    own.mkdir()
    (own / "_invoice_label.txt").write_text("{{ number }}\n{{ number.nope }}\n", encoding="utf-8")
    manual_path = write_manual(tmp_path, text=MANUAL.replace("[reminders]", '[reminders]\ntemplates = "own"'))
    built = MessageBuilder(load_manual(manual_path), AS_OF, "Acme <billing@acme.example>")
    with pytest.raises(TemplateError, match=re.escape(f"{own / '_invoice_label.txt'}:2: ") + ".*nope"):
        built.context(reminder(3, built, 1))


LABEL_TEMPLATES = [
    "{{ number }}\n",
    "Invoice {{ number|upper }}{% if installment %} #{{ installment.index }}/{{ installment.count }}{% endif %}",
    "{% set prefix = 'Nº' %}{{ prefix }} {{ number }}{% for i in range(installment.count if installment else 0) %}.{% endfor %}",
    "{{ number }} {{ text_table([{'a': number}], [['A', 'a']]) }}",
    "{% include '_piece.txt' %}",
    "{{ number }} {{ varargs }}",
    "{% macro m(x) %}[{{ x }}]{% endmacro %}{{ m(number) }}",
    "{{ number }}{% if installment %}{{ installment.nope }}{% endif %}",
]


@pytest.mark.parametrize("source", LABEL_TEMPLATES)
def test_a_label_template_as_a_function_renders_as_the_template(source: str, tmp_path: Path) -> None:
    """A company's own label template, simple or not: the function gives the template's text, or its error."""
    own = tmp_path / "own"
    own.mkdir()
    (own / "_invoice_label.txt").write_text(source, encoding="utf-8")
    (own / "_piece.txt").write_text("piece {{ number }}", encoding="utf-8")
    manual = write_manual(tmp_path, text=MANUAL.replace("[reminders]", '[reminders]\ntemplates = "own"'))
    templates = Templates(load_manual(manual))
    label = templates.as_function("_invoice_label.txt", ("number", "installment"))
    for number, installment in [("INV-1", None), ("X-0", {"of": "X-0", "index": 2, "count": 3}), ("<&>", None)]:
        variables = {"number": number, "installment": installment}
        try:
            expected = templates.render("_invoice_label.txt", variables)
        except TemplateError as exc:
            with pytest.raises(TemplateError, match=re.escape(str(exc))):
                label(number, installment)
            continue
        assert label(number, installment) == expected
