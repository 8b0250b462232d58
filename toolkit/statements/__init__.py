"""Statements of account: one customer's open invoices, payments, credits and total due, as HTML, PDF and CSV."""
