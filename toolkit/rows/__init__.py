"""Reading rows: header layout, typed invoices, validation, aging (shared by both backends)."""
