"""Getting paid: bank statements matched to invoices, payments applied, ways to pay in reminders."""
