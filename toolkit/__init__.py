"""Receivables Toolkit: accounts receivable kept in a spreadsheet, checked, aged and chased."""

__version__ = "0.1.0"
