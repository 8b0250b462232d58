"""The receivables report: figures, and how they are shown."""
