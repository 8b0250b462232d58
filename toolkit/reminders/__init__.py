"""Reminders: the schedule, the messages, the send journal and the SMTP side."""
